"""Record what a model decided about a person: `decision.made`.

Three ways, one event each: `record_decision` (one call), the `decision` decorator
(around a prediction function, sync or async) and `record_decisions` (a batch, one
transaction). Each records ``input_sha256``, the SHA-256 of the canonical JSON of the
inputs (`input_sha256`), never the raw inputs, unless ``keep_features=True`` asks to
keep them sealed under the subject's key (erasable with it). The subject's identifier
becomes a pseudonymous token; it never enters the ledger.

Example::

    @decision(ledger, model="credit", version="3.2", purpose="credit scoring",
              lawful_basis="contract", subject="customer_id", inputs="features",
              solely_automated=True, legal_effect=True)
    def score(customer_id: str, features: dict) -> dict: ...
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, ParamSpec, TypeVar, Unpack, cast, overload

from auditml.errors import ValidationError
from auditml.events.envelope import ID_PATTERN
from auditml.events.jsonable import to_jsonable
from auditml.ledger.canonical import canonicalize
from auditml.ledger.ledger import Ledger, Receipt
from auditml.sdk import _common
from auditml.sdk._common import EventOptions
from auditml.sdk.choices import LAWFUL_BASES, LawfulBasis

__all__ = ["decision", "input_sha256", "record_decision", "record_decisions"]

P = ParamSpec("P")
R = TypeVar("R")

#: How the decorator finds a value among the call's arguments: the name of a parameter
#: of the decorated function, or a function called with the same arguments.
ArgumentPicker = str | Callable[..., Any]

_log = logging.getLogger("auditml.sdk.decisions")


def input_sha256(inputs: object) -> str:
    """Return the SHA-256 (lowercase hex) of the canonical JSON (RFC 8785) of `inputs`.

    `inputs` is converted first like every recorded value (numpy scalars and arrays,
    enums, tuples, ... keep their value; see `auditml.events.jsonable`), so the digest
    of ``{"income": np.float64(52000.0)}`` equals that of ``{"income": 52000}``. This is
    the ``input_sha256`` of `decision.made`: anyone holding the inputs can check it.

    Example::

        event = ledger.get(receipt.id)
        assert event.payload["input_sha256"] == input_sha256(features)

    Raises ValidationError if the inputs cannot be represented as JSON.
    """
    return hashlib.sha256(_canonical(inputs, "inputs")).hexdigest()


@dataclass(frozen=True)
class _Decision:
    """The parts of `decision.made` that stay the same from call to call, validated once."""

    model: str
    version: str
    purpose: str
    lawful_basis: LawfulBasis
    solely_automated: bool
    legal_effect: bool
    keep_features: bool
    direct_marketing: bool | None = None

    @classmethod
    def checked(
        cls,
        where: str,
        *,
        model: object,
        version: object,
        purpose: object,
        lawful_basis: object,
        solely_automated: object,
        legal_effect: object,
        keep_features: object,
        direct_marketing: object = None,
    ) -> _Decision:
        return cls(
            _common.text(model, "model", where),
            _common.text(version, "version", where),
            _common.text(purpose, "purpose", where),
            _common.choice(lawful_basis, LAWFUL_BASES, "lawful_basis", where),
            _common.flag(solely_automated, "solely_automated", where),
            _common.flag(legal_effect, "legal_effect", where),
            _common.flag(keep_features, "keep_features", where),
            None
            if direct_marketing is None
            else _common.flag(direct_marketing, "direct_marketing", where),
        )

    def inputs(self, inputs: object, where: str) -> tuple[str, dict[str, Any] | None]:
        """(input_sha256, features to keep or None) for one call's inputs."""
        converted = to_jsonable(inputs, where=f"{where}: inputs")
        try:
            digest = hashlib.sha256(canonicalize(converted)).hexdigest()
        except ValidationError as exc:  # e.g. an integer beyond 2**53: name the argument
            raise ValidationError(f"{where}: inputs: {exc}") from None
        if not self.keep_features:
            return digest, None
        if not isinstance(converted, dict) or not converted:
            raise ValidationError(
                f"{where}: keep_features=True keeps the inputs as a non-empty mapping of "
                f"feature names to values, got {type(inputs).__name__}; pass a dict (e.g. "
                "dict(zip(columns, row))) or keep_features=False"
            )
        return digest, converted

    def payload(
        self,
        where: str,
        digest: str,
        features: dict[str, Any] | None,
        output: object,
        explanation: object,
    ) -> dict[str, Any]:
        return _common.compact(
            {
                "model": self.model,
                "version": self.version,
                "purpose": self.purpose,
                "lawful_basis": self.lawful_basis,
                "input_sha256": digest,
                "output": _output(output, where),
                "solely_automated": self.solely_automated,
                "legal_effect": self.legal_effect,
                "explanation": _explanation(explanation, where),
                "features": features,
                "direct_marketing": self.direct_marketing,
            }
        )


@overload
def record_decision(
    ledger: Ledger,
    *,
    model: str,
    version: str,
    purpose: str,
    lawful_basis: LawfulBasis,
    subject: str | int,
    inputs: object,
    output: object,
    solely_automated: bool,
    legal_effect: bool,
    explanation: str | Mapping[str, Any] | None = None,
    keep_features: bool = False,
    personal: Mapping[str, Any] | None = None,
    direct_marketing: bool | None = None,
    wait: Literal[True] = True,
    **options: Unpack[EventOptions],
) -> Receipt: ...


@overload
def record_decision(
    ledger: Ledger,
    *,
    model: str,
    version: str,
    purpose: str,
    lawful_basis: LawfulBasis,
    subject: str | int,
    inputs: object,
    output: object,
    solely_automated: bool,
    legal_effect: bool,
    explanation: str | Mapping[str, Any] | None = None,
    keep_features: bool = False,
    personal: Mapping[str, Any] | None = None,
    direct_marketing: bool | None = None,
    wait: Literal[False],
    **options: Unpack[EventOptions],
) -> Future[Receipt]: ...


def record_decision(
    ledger: Ledger,
    *,
    model: str,
    version: str,
    purpose: str,
    lawful_basis: LawfulBasis,
    subject: str | int,
    inputs: object,
    output: object,
    solely_automated: bool,
    legal_effect: bool,
    explanation: str | Mapping[str, Any] | None = None,
    keep_features: bool = False,
    personal: Mapping[str, Any] | None = None,
    direct_marketing: bool | None = None,
    wait: bool = True,
    **options: Unpack[EventOptions],
) -> Receipt | Future[Receipt]:
    """Record one `decision.made`; return its receipt (or, with ``wait=False``, a future).

    `subject` is the data subject's identifier (a string or an integer id); the ledger
    stores a pseudonymous token instead. `inputs` are hashed (`input_sha256`) and kept
    only with `keep_features` (then they must be a mapping; stored sealed). `output` is
    a mapping (e.g. ``{"score": 0.82}``) or a single value, recorded as
    ``{"result": value}``; numpy values are converted. `explanation` (text or a mapping,
    e.g. feature attributions) and `personal` are stored sealed. `direct_marketing` marks
    processing for direct marketing (GDPR Art. 21(2)): after the subject objects to
    direct marketing it must stop (Art. 21(3)). With ``wait=False`` the
    event is queued for group commit and a `Future[Receipt]` is returned at once.
    `options` are the envelope fields (actor, occurred_at, id, system).

    Example::

        record_decision(ledger, model="credit", version="3.2", purpose="credit scoring",
                        lawful_basis="contract", subject="c-1042", inputs=features,
                        output={"score": 0.82}, solely_automated=True, legal_effect=True)

    Raises ValidationError (nothing recorded) for a bad argument, e.g. a missing subject.
    """
    where = "record_decision"
    spec = _Decision.checked(
        where,
        model=model,
        version=version,
        purpose=purpose,
        lawful_basis=lawful_basis,
        solely_automated=solely_automated,
        legal_effect=legal_effect,
        keep_features=keep_features,
        direct_marketing=direct_marketing,
    )
    raw_subject = _subject(subject, where)
    digest, features = spec.inputs(inputs, where)
    payload = spec.payload(where, digest, features, output, explanation)
    if wait:
        return _common.record(
            ledger, "decision.made", payload, options, subject=raw_subject, personal=personal
        )
    return ledger.submit(
        "decision.made",
        payload=payload,
        subject=raw_subject,
        personal=personal,
        actor=options.get("actor"),
        occurred_at=options.get("occurred_at"),
        id=options.get("id"),
        system=options.get("system"),
    )


def decision(
    ledger: Ledger,
    *,
    model: str,
    version: str,
    purpose: str,
    lawful_basis: LawfulBasis,
    subject: ArgumentPicker,
    inputs: ArgumentPicker,
    solely_automated: bool,
    legal_effect: bool,
    explain: Callable[..., Any] | None = None,
    output: Callable[[Any], Any] | None = None,
    keep_features: bool = False,
    wait: bool = False,
    id: ArgumentPicker | None = None,
    actor: Mapping[str, str] | None = None,
    system: str | None = None,
    direct_marketing: bool | None = None,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a prediction function so that every successful call records `decision.made`.

    The wrapped function returns exactly what the function returns (the same object);
    when it raises, nothing is recorded and the exception propagates. ``async def``
    functions are supported (the event is recorded after the result is awaited).

    `subject` and `inputs` pick values from each call: the name of a parameter (e.g.
    ``subject="customer_id"``) or a function called with the call's arguments (e.g.
    ``inputs=lambda applicant: applicant.features``). Both are taken *before* the call,
    so the digest is of the inputs as given, even if the function changes them. `output`
    maps the result to what is recorded (default: a mapping as is, anything else as
    ``{"result": value}``). `explain`, if given, is called as ``explain(result, *args,
    **kwargs)`` and its text or mapping is stored sealed. `direct_marketing` marks every
    call's decision as processing for direct marketing (GDPR Art. 21(2)).

    `id`, if given, picks the event id of each call's decision the same way (e.g.
    ``id="request_id"``, or ``id=lambda request: request.headers["X-Request-Id"]``): 1-128
    characters of ``A-Za-z0-9._:-``. It is your handle on what was recorded: later,
    ``ledger.prove(request_id)`` proves the decision and ``record_review(ledger,
    request_id, ...)`` records its review. It is also an idempotency key: a retried call
    with the same id and the same decision returns the original receipt, while the same
    id with a different decision is refused (raised with ``wait=True``, logged
    otherwise), so an id must name one decision. Without `id`, the ledger makes one.

    By default the event is queued for group commit (`Ledger.submit`), so serving waits
    microseconds, not for a disk flush; a queued event that later fails to be written is
    logged on the ``auditml.sdk.decisions`` logger. ``wait=True`` returns only once the
    event is durable (async functions await it without blocking the event loop). A
    mistake in what is recorded (no subject, an output that is not JSON) raises
    ValidationError from the call, after the function ran, so misconfiguration is loud.

    Example::

        @decision(ledger, model="credit", version="3.2", purpose="credit scoring",
                  lawful_basis="contract", subject="customer_id", inputs="features",
                  solely_automated=True, legal_effect=True, id="request_id")
        def score(customer_id: str, features: dict, request_id: str) -> dict: ...

        score("c-1042", {"income": 52000}, request_id="req-8f3a")
        evidence = ledger.prove("req-8f3a")

    Raises ValidationError at decoration time for a bad argument or a parameter name the
    function does not have.
    """
    where = "decision"
    spec = _Decision.checked(
        where,
        model=model,
        version=version,
        purpose=purpose,
        lawful_basis=lawful_basis,
        solely_automated=solely_automated,
        legal_effect=legal_effect,
        keep_features=keep_features,
        direct_marketing=direct_marketing,
    )
    for name, hook in (("explain", explain), ("output", output)):
        if hook is not None and not callable(hook):
            raise ValidationError(f"{where}: {name} must be a function, got {type(hook).__name__}")
    envelope: dict[str, Any] = {"actor": actor, "system": system}
    label = f"{model}@{version}"

    def decorate(function: Callable[P, R]) -> Callable[P, R]:
        pick_subject = _picker(function, subject, "subject")
        pick_inputs = _picker(function, inputs, "inputs")
        pick_id = None if id is None else _picker(function, id, "id")
        call_where = f"decision {label} ({getattr(function, '__qualname__', function)!r})"

        def before(
            args: tuple[Any, ...], kwargs: dict[str, Any]
        ) -> tuple[str, str, Any, str | None]:
            raw_subject = _subject(pick_subject(args, kwargs), call_where)
            digest, features = spec.inputs(pick_inputs(args, kwargs), call_where)
            event_id = None if pick_id is None else _event_id(pick_id(args, kwargs), call_where)
            return raw_subject, digest, features, event_id

        def submit(
            prepared: tuple[str, str, Any, str | None],
            result: Any,
            args: tuple[Any, ...],
            kwargs: dict[str, Any],
        ) -> Future[Receipt]:
            raw_subject, digest, features, event_id = prepared
            recorded = output(result) if output is not None else result
            explanation = explain(result, *args, **kwargs) if explain is not None else None
            payload = spec.payload(call_where, digest, features, recorded, explanation)
            future = ledger.submit(
                "decision.made", payload=payload, subject=raw_subject, id=event_id, **envelope
            )
            if not wait:
                future.add_done_callback(functools.partial(_log_failure, label))
            return future

        if inspect.iscoroutinefunction(function):
            async_function = cast(Callable[..., Awaitable[Any]], function)

            @functools.wraps(function)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                prepared = before(args, kwargs)
                result = await async_function(*args, **kwargs)
                future = submit(prepared, result, args, kwargs)
                if wait:
                    await asyncio.wrap_future(future)
                return result

            return cast(Callable[P, R], async_wrapper)

        @functools.wraps(function)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            prepared = before(args, kwargs)
            result = function(*args, **kwargs)
            future = submit(prepared, result, args, kwargs)
            if wait:
                future.result()
            return result

        return wrapper

    return decorate


def record_decisions(
    ledger: Ledger,
    rows: Iterable[Any],
    outputs: Iterable[Any],
    *,
    subjects: Iterable[str | int],
    model: str,
    version: str,
    purpose: str,
    lawful_basis: LawfulBasis,
    solely_automated: bool,
    legal_effect: bool,
    explanations: Iterable[str | Mapping[str, Any] | None] | None = None,
    keep_features: bool = False,
    ids: Iterable[str] | None = None,
    actor: Mapping[str, str] | None = None,
    occurred_at: datetime | str | None = None,
    system: str | None = None,
    direct_marketing: bool | None = None,
) -> list[Receipt]:
    """Record one `decision.made` per row of a batch prediction, all in one transaction.

    `rows`, `outputs` and `subjects` (and `explanations`, `ids` when given) are parallel:
    one entry per decision. A row is a mapping or a sequence of feature values (numpy
    arrays and pandas rows included; a DataFrame is read with ``to_dict("records")``);
    an output is a mapping or a single value (e.g. a numpy float from
    ``model.predict_proba``), recorded as ``{"result": value}``. `ids` are idempotency
    keys: re-running a failed batch with the same ids records nothing twice.
    `direct_marketing` marks the batch as processing for direct marketing (GDPR
    Art. 21(2)). All or nothing: if any row is refused, none is recorded.

    Example::

        scores = model.predict_proba(X)[:, 1]
        record_decisions(ledger, X, scores, subjects=customer_ids, model="credit", version="3.2",
                         purpose="credit scoring", lawful_basis="contract",
                         solely_automated=False, legal_effect=True)

    Raises ValidationError (nothing recorded) naming the first bad row.
    """
    where = "record_decisions"
    spec = _Decision.checked(
        where,
        model=model,
        version=version,
        purpose=purpose,
        lawful_basis=lawful_basis,
        solely_automated=solely_automated,
        legal_effect=legal_effect,
        keep_features=keep_features,
        direct_marketing=direct_marketing,
    )
    columns: dict[str, list[Any]] = {
        "rows": _records(rows),
        "outputs": _records(outputs),
        "subjects": list(subjects),
    }
    if explanations is not None:
        columns["explanations"] = list(explanations)
    if ids is not None:
        columns["ids"] = list(ids)
    lengths = {name: len(values) for name, values in columns.items()}
    if len(set(lengths.values())) > 1:
        counts = ", ".join(f"{count} {name}" for name, count in lengths.items())
        raise ValidationError(f"{where}: one entry per decision is needed, got {counts}")
    items = []
    for position in range(lengths["rows"]):
        row_where = f"{where}: row {position}"
        digest, features = spec.inputs(columns["rows"][position], row_where)
        explanation = columns["explanations"][position] if explanations is not None else None
        items.append(
            {
                "type": "decision.made",
                "payload": spec.payload(
                    row_where, digest, features, columns["outputs"][position], explanation
                ),
                "subject": _subject(columns["subjects"][position], row_where),
                "id": columns["ids"][position] if ids is not None else None,
                "actor": actor,
                "occurred_at": occurred_at,
                "system": system,
            }
        )
    labels = [f"{where}: row {position}" for position in range(len(items))]
    return ledger.record_many(items, labels=labels)


# -- helpers --------------------------------------------------------------------------


def _canonical(value: object, where: str) -> bytes:
    """RFC 8785 bytes of `value` after `to_jsonable`; refusals name `where`."""
    converted = to_jsonable(value, where=where)
    try:
        return canonicalize(converted)
    except ValidationError as exc:  # e.g. an integer beyond 2**53: name the argument
        raise ValidationError(f"{where}: {exc}") from None


def _subject(value: object, where: str) -> str:
    """The raw subject identifier as a string: a non-empty string or an integer id."""
    if isinstance(value, str) and value.strip():
        return value
    if not isinstance(value, bool) and value is not None:
        try:  # numpy integers, as ids come out of a DataFrame column
            converted = to_jsonable(value, where="subject")
        except ValidationError:
            converted = None
        if isinstance(converted, int) and not isinstance(converted, bool):
            return str(converted)
    raise ValidationError(
        f"{where}: subject is required for decision.made: the data subject's identifier "
        f"(a non-empty string or an integer id, stored only as a pseudonymous token), got "
        f"{_common.show(value)}"
    )


def _event_id(value: object, where: str) -> str:
    """The event id a decorated call picked: an idempotency key of the envelope's format."""
    if isinstance(value, str) and ID_PATTERN.fullmatch(value):
        return value
    raise ValidationError(
        f"{where}: id picked {_common.show(value)}, but an event id must be 1-128 characters "
        "of A-Z a-z 0-9 . _ : -; pick an argument that always holds such an id (e.g. the "
        "request id), convert it in a function (id=lambda request: str(request.id)), or "
        "leave id= out to let the ledger make one"
    )


def _output(value: object, where: str) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return _common.json_object(value, "output", where)
    return {"result": to_jsonable(value, where=f"{where}: output")}


def _explanation(value: object, where: str) -> str | dict[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return _common.text(value, "explanation", where)
    if isinstance(value, Mapping):
        return _common.json_object(value, "explanation", where)
    raise ValidationError(
        f"{where}: explanation must be text or a mapping (e.g. feature attributions), got "
        f"{type(value).__name__}"
    )


def _records(values: Iterable[Any]) -> list[Any]:
    """A list of per-row values; a pandas DataFrame becomes its rows as mappings."""
    to_dict = getattr(values, "to_dict", None)
    if callable(to_dict) and hasattr(values, "columns"):
        return list(to_dict("records"))
    return list(values)


def _picker(
    function: Callable[..., Any], pick: ArgumentPicker, field: str
) -> Callable[[tuple[Any, ...], dict[str, Any]], Any]:
    """Return a function that takes a call's (args, kwargs) and returns the picked value."""
    if callable(pick):
        return lambda args, kwargs: pick(*args, **kwargs)
    if not isinstance(pick, str):
        raise ValidationError(
            f"decision: {field} must be a parameter name or a function, got {type(pick).__name__}"
        )
    signature = inspect.signature(function)
    if pick not in signature.parameters:
        raise ValidationError(
            f"decision: {field}={pick!r} is not a parameter of {function.__qualname__}"
            f"{signature}; name one of {', '.join(signature.parameters) or 'none'} or pass "
            "a function"
        )

    def by_name(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return bound.arguments[pick]

    return by_name


def _log_failure(label: str, future: Future[Receipt]) -> None:
    """Log a queued decision that could not be written (the caller did not wait for it)."""
    error = future.exception()
    if error is not None:
        # The subject and inputs are personal data: the message names the model only.
        _log.error("decision.made for %s was not recorded: %s", label, error)
