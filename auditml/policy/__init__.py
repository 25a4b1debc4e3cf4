"""Policy evaluation: rules, check kinds and the calendars their deadlines run on."""
