"""What the rule set covers of the law: ``auditml policy coverage`` and docs/COVERAGE.md.

``policies/articles.yaml`` lists the GDPR and AI Act provisions that matter for ML systems,
each with what a person must judge and what no event can show. A rule covers a provision
when one of its references falls inside it (``GDPR Art. 33(1)`` is inside ``GDPR Art. 33``).
The result shows a compliance officer the gaps as well as the passes: a provision without a
rule says why (a person, or nothing to record), or stands out as not covered.

The file's shape::

    articles:
      - law: GDPR | AI Act
        article: "5"
        paragraph: "1"          # optional: the provision is narrower than the article
        point: e                # optional
        title: <text>           # what it asks, in a line
        person: <text>          # optional: what a person must judge
        not_from_events: <text> # optional: what cannot be checked from events at all
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from auditml.policy.loader import (
    ARTICLES_FILE,
    PolicyError,
    Problem,
    default_policies_dir,
    read_yaml,
    validate_model,
)
from auditml.policy.rules import Number, Reference, Rule

__all__ = [
    "Article",
    "ArticleCoverage",
    "Coverage",
    "Status",
    "articles_path",
    "coverage_of",
    "load_articles",
    "markdown",
]

Text = Annotated[str, StringConstraints(min_length=1)]
Status = Literal["checked", "partly", "person", "not_from_events", "not_covered"]

#: How each status reads, for tables and the generated page.
STATUS_TEXT: dict[Status, str] = {
    "checked": "checked by rules",
    "partly": "checked by rules, with a person's judgement",
    "person": "needs a person",
    "not_from_events": "cannot be checked from events",
    "not_covered": "not covered",
}


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class Article(_Model):
    """A provision of the law that matters for ML systems."""

    law: Literal["GDPR", "AI Act"] = Field(description="GDPR or AI Act")
    article: Number = Field(description="article number, e.g. 33")
    paragraph: Number | None = Field(default=None, description="paragraph, if narrower")
    point: Number | None = Field(default=None, description="point, if narrower")
    title: Text = Field(description="what the provision asks, in a line")
    person: Text | None = Field(default=None, description="what a person must judge")
    not_from_events: Text | None = Field(
        default=None, description="what cannot be checked from events at all"
    )

    @model_validator(mode="after")
    def _point_needs_paragraph(self) -> Article:
        if self.point is not None and self.paragraph is None:
            raise PydanticCustomError("point", "a point needs its paragraph")
        return self

    def reference(self) -> Reference:
        """The provision as a rule would cite it."""
        return Reference(
            law=self.law, article=self.article, paragraph=self.paragraph, point=self.point
        )

    def label(self) -> str:
        """``GDPR Art. 5(1)(e)``: the same label a rule's reference has."""
        return self.reference().label()

    def holds(self, reference: Reference) -> bool:
        """Whether a rule's reference falls inside this provision."""
        return (
            reference.law == self.law
            and reference.article == self.article
            and self.paragraph in (None, reference.paragraph)
            and self.point in (None, reference.point)
        )


class _Articles(_Model):
    articles: list[Article] = Field(min_length=1, description="the provisions")


@dataclass(frozen=True)
class RuleCover:
    """A rule that checks a provision, and whether its evidence goes to a person."""

    id: str
    title: str
    kind: str
    needs_human: bool


@dataclass(frozen=True)
class ArticleCoverage:
    article: Article
    rules: tuple[RuleCover, ...]

    @property
    def status(self) -> Status:
        if self.rules:
            judged = self.article.person is not None or any(r.needs_human for r in self.rules)
            return "partly" if judged else "checked"
        if self.article.person is not None:
            return "person"
        if self.article.not_from_events is not None:
            return "not_from_events"
        return "not_covered"


@dataclass(frozen=True)
class Coverage:
    articles: tuple[ArticleCoverage, ...]
    #: Rules citing GDPR or the AI Act at a provision the catalogue does not list.
    unplaced: tuple[tuple[str, str], ...]

    def counts(self, law: str) -> dict[Status, int]:
        counts: dict[Status, int] = dict.fromkeys(STATUS_TEXT, 0)
        for item in self.articles:
            if item.article.law == law:
                counts[item.status] += 1
        return counts

    def summary(self, law: str) -> str:
        """``GDPR: 31 provisions; 20 checked by rules (6 with a person's judgement), ...``"""
        counts = self.counts(law)
        total = sum(counts.values())
        checked = counts["checked"] + counts["partly"]
        return (
            f"{law}: {total} provisions; {checked} checked by rules "
            f"({counts['partly']} with a person's judgement), {counts['person']} need a "
            f"person, {counts['not_from_events']} cannot be checked from events, "
            f"{counts['not_covered']} not covered"
        )

    def to_json(self) -> dict[str, object]:
        return {
            "summary": {law: self.counts(law) for law in ("GDPR", "AI Act")},
            "articles": [
                {
                    "provision": item.article.label(),
                    "title": item.article.title,
                    "status": item.status,
                    "rules": [
                        {"id": r.id, "title": r.title, "kind": r.kind, "needs_human": r.needs_human}
                        for r in item.rules
                    ],
                    "person": item.article.person,
                    "not_from_events": item.article.not_from_events,
                }
                for item in self.articles
            ],
            "unplaced": [{"rule": rule, "reference": ref} for rule, ref in self.unplaced],
        }


def articles_path(policies: Path) -> Path:
    """A policies folder's own articles.yaml, else the shipped one."""
    own = policies / ARTICLES_FILE
    return own if own.is_file() else default_policies_dir() / ARTICLES_FILE


def load_articles(path: Path) -> tuple[Article, ...]:
    """Read an articles.yaml; PolicyError (exit 2) with FILE:LINE for every problem."""
    doc, problems = read_yaml(path, str(path))
    parsed: _Articles | None = None
    if doc is not None:
        parsed, problems = validate_model(_Articles, doc.data, doc)
    if doc is None or parsed is None:
        raise PolicyError(problems or [Problem(str(path), None, "", "empty")], what="articles")
    overlaps = [
        Problem(
            str(path),
            doc.line(("articles", index)),
            f"articles[{index}]",
            f"{other.label()} and {article.label()} overlap; list each provision once",
        )
        for index, article in enumerate(parsed.articles)
        for other in parsed.articles[:index]
        if other.holds(article.reference()) or article.holds(other.reference())
    ]
    if overlaps:
        raise PolicyError(overlaps, what="articles")
    return tuple(parsed.articles)


def _needs_human(rule: Rule) -> bool:
    return getattr(rule.check, "verdict", None) == "needs_human"


def coverage_of(articles: Sequence[Article], rules: Iterable[Rule]) -> Coverage:
    """Place each rule under the provisions its references fall inside."""
    found: dict[int, list[RuleCover]] = {index: [] for index in range(len(articles))}
    unplaced: list[tuple[str, str]] = []
    for rule in rules:
        cover = RuleCover(rule.id, rule.title, rule.check.kind, _needs_human(rule))
        for reference in rule.references:
            if reference.law == "internal":
                continue
            places = [i for i, article in enumerate(articles) if article.holds(reference)]
            if not places:
                unplaced.append((rule.id, reference.label()))
            for index in places:
                if cover not in found[index]:
                    found[index].append(cover)
    return Coverage(
        tuple(ArticleCoverage(article, tuple(found[i])) for i, article in enumerate(articles)),
        tuple(unplaced),
    )


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(coverage: Coverage) -> str:
    """docs/COVERAGE.md: the summary, then a table per law."""
    lines = [
        "# Coverage: what the shipped rules check of the law",
        "",
        "Generated by `auditml policy coverage --markdown` from `policies/articles.yaml` and the",
        "shipped rules; a test keeps it current. A provision is *checked by rules* when a rule",
        "cites it; *with a person's judgement* when the evidence found still needs a person;",
        "*needs a person* or *cannot be checked from events* when no rule can decide it, and why.",
        "",
    ]
    lines.extend(f"- {coverage.summary(law)}" for law in ("GDPR", "AI Act"))
    for law in ("GDPR", "AI Act"):
        lines += [
            "",
            f"## {law}",
            "",
            "| provision | status | rules | a person / not from events |",
        ]
        lines.append("|---|---|---|---|")
        for item in coverage.articles:
            if item.article.law != law:
                continue
            rules = "<br>".join(
                f"`{r.id}`" + (" (needs a person)" if r.needs_human else "") for r in item.rules
            )
            notes = [
                text
                for text in (item.article.person, item.article.not_from_events)
                if text is not None
            ]
            lines.append(
                f"| {item.article.label()}: {_cell(item.article.title)} | "
                f"{STATUS_TEXT[item.status]} | {rules} | {_cell(' '.join(notes))} |"
            )
    if coverage.unplaced:
        lines += ["", "## Rules citing provisions not listed", ""]
        lines.extend(f"- `{rule}`: {reference}" for rule, reference in coverage.unplaced)
    return "\n".join(lines) + "\n"
