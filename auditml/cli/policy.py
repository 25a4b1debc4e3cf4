"""`auditml policy list|show|lint|test|coverage|adopt`: review the rule set, and put it in force."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from auditml.cli.metavars import Typer
from auditml.cli.output import console, print_json
from auditml.cli.state import OPTIONS
from auditml.policy.coverage import Status, articles_path, coverage_of, load_articles, markdown
from auditml.policy.engine import run_rule_tests
from auditml.policy.loader import RuleSet, default_policies_dir, lint_rules, load_rules
from auditml.policy.rules import Rule
from auditml.policy.stream import in_force

app = Typer(
    name="policy",
    help="The rules auditml checks (GDPR, AI Act, internal): list, show, lint, test and "
    "adopt them.",
    no_args_is_help=True,
)

PoliciesOption = Annotated[
    Path | None,
    typer.Option(
        "--policies",
        metavar="DIR",
        help="A policies folder (default: the rules shipped with auditml).",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print as JSON.")]


def _load(policies: Path | None) -> RuleSet:
    return load_rules(policies if policies is not None else default_policies_dir())


def _law(rule: Rule) -> str:
    """The first reference, and how many more: the table stays narrow."""
    more = len(rule.references) - 1
    return rule.references[0].label() + (f" +{more}" if more else "")


def _summary(rule: Rule, rule_set: RuleSet) -> dict[str, Any]:
    return {
        "id": rule.id,
        "severity": rule.severity,
        "references": [reference.label() for reference in rule.references],
        "kind": rule.check.kind,
        "title": rule.title,
        "file": rule_set.sources[rule.id].file,
    }


@app.command("list")
def list_rules(policies: PoliciesOption = None, json_out: JsonOption = False) -> None:
    """List the rules: id, severity, law and article, check kind, title."""
    rule_set = _load(policies)
    if json_out:
        print_json(
            {
                "directory": str(rule_set.directory),
                "sha256": rule_set.sha256,
                "rules": [_summary(rule, rule_set) for rule in rule_set.rules],
            }
        )
        return
    # The title goes under the id, the check kind under the severity: three columns fit
    # an 80-column terminal.
    table = Table(
        title=f"{len(rule_set.rules)} rules in {escape(str(rule_set.directory))}",
        title_justify="left",
        caption=f"rule set sha256 {rule_set.sha256}",
        caption_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
        show_lines=True,
    )
    longest = max((len(rule.id) for rule in rule_set.rules), default=10)
    table.add_column("id / title", min_width=min(longest, 40), overflow="fold")
    table.add_column("severity / check", no_wrap=True)
    table.add_column("law", no_wrap=True)
    for rule in rule_set.rules:
        table.add_row(
            f"[bold]{rule.id}[/]\n{escape(rule.title)}",
            f"{rule.severity}\n[dim]{rule.check.kind}[/]",
            escape(_law(rule)),
        )
    console.print(table)


@app.command()
def show(
    rule_id: Annotated[
        str, typer.Argument(metavar="ID", help="A rule id, e.g. gdpr-33-breach-notification.")
    ],
    policies: PoliciesOption = None,
    json_out: JsonOption = False,
) -> None:
    """Show one rule for reading: references, text, interpretation, check and tests."""
    rule_set = _load(policies)
    rule = rule_set.get(rule_id)
    source = rule_set.sources[rule.id]
    if json_out:
        print_json(
            {
                **rule.model_dump(mode="json", exclude_none=True),
                "file": source.file,
                "line": source.line(),
                "rule_set_sha256": rule_set.sha256,
            }
        )
        return
    out = console.print
    out(f"[bold]{escape(rule.id)}[/]  [dim]({rule.severity})[/]")
    out(f"[bold]{escape(rule.title)}[/]")
    out(f"[dim]{escape(source.file)}:{source.line()}[/]\n")
    out("[bold]References[/]")
    for reference in rule.references:
        link = f"  {escape(reference.url)}" if reference.url else ""
        out(f"  {escape(reference.label())}{link}")
    for heading, text in (
        ("Description", rule.description),
        ("Remediation", rule.remediation),
        ("Interpretation", rule.interpretation),
    ):
        if text:
            out(f"\n[bold]{heading}[/]")
            out(escape(text.strip()), soft_wrap=False)
    applies = rule.applies
    scope = [
        f"regime {applies.regime}" if applies.regime else "any regime",
        f"roles {', '.join(applies.roles)}" if applies.roles else "any role",
        f"risk classes {', '.join(applies.risk_classes)}"
        if applies.risk_classes
        else "any risk class",
    ]
    if applies.regime and applies.regime in rule_set.regimes.regimes:
        regime = rule_set.regimes.regimes[applies.regime]
        verify = " [verify]" if regime.verify else ""
        scope[0] += f" (from {regime.applies_from.isoformat()}{verify})"
    out("\n[bold]Applies to[/]")
    out("  " + escape("; ".join(scope)))
    out(f"\n[bold]Check[/]: {rule.check.kind}")
    for name, value in rule.check.params().items():
        out(f"  {name}: {escape(_render(value))}")
    out("\n[bold]Tests[/]")
    if not rule.tests:
        out("  (none)")
    for test in rule.tests:
        as_of = f" as of {test.as_of.isoformat()}" if test.as_of else ""
        out(f"  {test.expect:<15} {escape(test.name)}  [dim]{escape(test.fixture)}{as_of}[/]")


def _render(value: object) -> str:
    """A parameter value on one line: lists as [a, b], pairs as a = b."""
    if isinstance(value, list):
        if value and all(isinstance(item, list) and len(item) == 2 for item in value):
            return ", ".join(f"{a} = {b}" if a != b else str(a) for a, b in value)
        return "[" + ", ".join(_render(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}: {_render(item)}" for key, item in value.items()) + "}"
    return str(value)


@app.command()
def lint(policies: PoliciesOption = None) -> None:
    """Check the rule files: schema, vocabulary, regimes, CEL conditions and test fixtures.

    Every problem is reported as FILE:LINE: FIELD: what is wrong (exit 2); a clean rule
    set prints "N rules OK" (exit 0).
    """
    directory = policies if policies is not None else default_policies_dir()
    rule_set = lint_rules(directory)
    tests = sum(len(rule.tests) for rule in rule_set.rules)
    console.print(
        f"{len(rule_set.rules)} rules OK ({tests} tests, rule set sha256 {rule_set.sha256})",
        highlight=False,
    )
    to_verify = rule_set.regimes.to_verify()
    if to_verify:
        console.print(
            "[yellow]note:[/] "
            + escape(f"dates marked [verify] in regimes.yaml: {', '.join(to_verify)}"),
            highlight=False,
        )


@app.command()
def coverage(
    policies: PoliciesOption = None,
    json_out: JsonOption = False,
    markdown_out: Annotated[
        bool, typer.Option("--markdown", help="Print docs/COVERAGE.md (Markdown).")
    ] = False,
) -> None:
    """What the rules check of each GDPR and AI Act provision that matters for ML systems.

    Per provision: the rules that check it, what needs a person, and what cannot be
    checked from events at all. Provisions come from articles.yaml in the policies folder
    (else the shipped one).
    """
    rule_set = _load(policies)
    articles = load_articles(articles_path(rule_set.directory))
    result = coverage_of(articles, rule_set.rules)
    if json_out:
        print_json(result.to_json())
        return
    if markdown_out:
        typer.echo(markdown(result), nl=False)
        return
    for law in ("GDPR", "AI Act"):
        table = Table(
            title=law, title_justify="left", box=box.SIMPLE_HEAD, show_lines=True, pad_edge=False
        )
        table.add_column("provision", max_width=24)
        table.add_column("status", max_width=16)
        table.add_column("rules / what is left to a person", overflow="fold", min_width=28)
        for item in result.articles:
            if item.article.law != law:
                continue
            lines = [
                escape(r.id) + (" [dim](needs a person)[/]" if r.needs_human else "")
                for r in item.rules
            ]
            lines += [
                f"[dim]{escape(text)}[/]"
                for text in (item.article.person, item.article.not_from_events)
                if text is not None
            ]
            table.add_row(
                f"[bold]{escape(item.article.label())}[/]\n{escape(item.article.title)}",
                _STATUS_STYLE[item.status],
                "\n".join(lines),
            )
        console.print(table)
    for law in ("GDPR", "AI Act"):
        console.print(escape(result.summary(law)), highlight=False)
    for rule_id, reference in result.unplaced:
        console.print(
            f"[yellow]note:[/] {escape(rule_id)} cites {escape(reference)}, which "
            "articles.yaml does not list",
            highlight=False,
        )


_STATUS_STYLE: dict[Status, str] = {
    "checked": "[green]checked by rules[/]",
    "partly": "[green]checked by rules[/], [yellow]with a person's judgement[/]",
    "person": "[yellow]needs a person[/]",
    "not_from_events": "[dim]cannot be checked from events[/]",
    "not_covered": "[red]not covered[/]",
}


@app.command("test")
def test_rules(policies: PoliciesOption = None, json_out: JsonOption = False) -> None:
    """Run every rule's tests: evaluate the rule over its fixture and compare the verdict.

    Prints rule, test, expected and got verdicts; exit 1 if any test disagrees.
    """
    rule_set = _load(policies)
    results = run_rule_tests(rule_set)
    failed = [result for result in results if not result.ok]
    if json_out:
        print_json(
            {
                "directory": str(rule_set.directory),
                "sha256": rule_set.sha256,
                "passed": len(results) - len(failed),
                "failed": len(failed),
                "tests": [result.to_json() for result in results],
            }
        )
    else:
        table = Table(
            title=f"{len(results)} rule tests in {escape(str(rule_set.directory))}",
            title_justify="left",
            box=box.SIMPLE_HEAD,
            pad_edge=False,
            collapse_padding=True,
        )
        table.add_column("rule / test", overflow="fold")
        table.add_column("expected", no_wrap=True)
        table.add_column("got", no_wrap=True)
        table.add_column("", no_wrap=True)
        for result in results:
            mark = "[green]OK[/]" if result.ok else "[bold red]FAIL[/]"
            table.add_row(
                f"[bold]{result.rule_id}[/]\n{escape(result.name)}",
                result.expected,
                result.got,
                mark,
            )
        console.print(table)
        for result in failed:
            console.print(f"[bold red]FAIL[/] {escape(result.rule_id)}: {escape(result.name)}")
            console.print(f"  fixture {escape(result.fixture)}", highlight=False)
            if result.error is not None:
                console.print(f"  error: {escape(result.error)}", highlight=False)
            for message in result.messages:
                console.print(f"  {escape(message)}", highlight=False)
        console.print(
            f"{len(results) - len(failed)} passed, {len(failed)} failed",
            highlight=False,
        )
    if failed:
        raise typer.Exit(1)


@app.command()
def adopt(
    summary: Annotated[
        str, typer.Option("--summary", help="What changed and why, for the record.")
    ],
    policies: PoliciesOption = None,
) -> None:
    """Put a rule set in force: record `policy.changed` with its SHA-256 (docs/POLICIES.md).

    Only a rule set that lints clean and passes its own tests is adopted (exit 1 if a
    test fails, 2 if lint finds a problem). Adopting the set already in force records
    nothing. `auditml check` notes when it evaluates a set other than the one in force.
    """
    directory = policies if policies is not None else default_policies_dir()
    rule_set = lint_rules(directory)
    failed = [result for result in run_rule_tests(rule_set) if not result.ok]
    if failed:
        for result in failed:
            console.print(f"[bold red]FAIL[/] {escape(result.rule_id)}: {escape(result.name)}")
        console.print(
            f"not adopted: {len(failed)} rule test(s) fail (run `auditml policy test`)",
            highlight=False,
        )
        raise typer.Exit(1)
    with OPTIONS.open_ledger() as ledger:
        current = in_force(ledger)
        if current is not None and current.payload["policy_set_sha256"] == rule_set.sha256:
            console.print(
                f"rule set {rule_set.sha256} is already in force (seq {current.seq})",
                highlight=False,
            )
            return
        receipt = ledger.record(
            "policy.changed",
            payload={"policy_set_sha256": rule_set.sha256, "summary": summary},
        )
    console.print(
        f"adopted {len(rule_set.rules)} rules from {escape(str(directory))}: rule set sha256 "
        f"{rule_set.sha256}, recorded as policy.changed seq {receipt.seq}",
        highlight=False,
    )


def register(root: typer.Typer) -> None:
    """Add the `policy` group to the root app."""
    root.add_typer(app, name="policy")
