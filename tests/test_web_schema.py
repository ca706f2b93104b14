"""The JSON API against its own OpenAPI document, with schemathesis.

Schemathesis reads /openapi.json, generates requests for every /api operation (schema-valid
ones and ones that break the schema on purpose) and sends them to the app in-process, on a
home with the dashboard story in it (tests/web_story.py), with the API token on every call.
``case.call_and_validate()`` runs its default checks on each answer; the ones that matter
here, and the bugs they found, are:

* ``not_a_server_error``: no 5xx (ids beyond SQLite's INTEGER used to overflow into a 500);
* ``status_code_conformance``: only documented codes (an unreadable JSON body gave 400,
  re-adding a watched URL 200, neither of them documented);
* ``content_type_conformance`` and ``response_schema_conformance``: the body is what the
  document says, for 2xx and for errors alike;
* ``negative_data_rejection`` / ``positive_data_acceptance``: what breaks the schema is refused
  (``since=0.5`` was read as a Unix time, ``{"source_id": true}`` as source #1), what fits
  it is accepted;
* ``unsupported_method`` / ``allow_header_conformance``: a 405 lists every method of the path
  (``OPTIONS /api/sources`` said ``Allow: GET`` though POST works too);
* ``ignored_auth``: every write, sent again without the token, is refused with 401.

Nothing leaves 127.0.0.1: names added through the API never reach a DNS server (the guard's
resolver is replaced: every name "resolves" to a public address, so valid URLs are accepted),
and "check now" fetches through a transport that reaches only the local news site. Runs are
derandomized (the same cases every run); a failure prints the request as a curl command.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import schemathesis.python.asgi
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis import Case
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.hooks import HookContext

from monitor import guard
from monitor.web.actions import CheckRunner
from monitor.web.app import create_app
from monitor.web.schemas import MAX_ID
from tests.conftest import TEST_ENV
from tests.site import NewsSite
from tests.web_home import Template, build_template, story_copy

# A check now answered 202 goes on fetching in the app's thread while hypothesis draws the
# next case, and the news site picks its page chrome with the global ``random``: hypothesis
# sees the global state move during a draw and warns, though no strategy used it.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Do not use the `random` module inside strategies:hypothesis.errors.HypothesisDeprecationWarning")

# Cases per operation and phase (coverage, fuzzing): the module takes about 35 s on 2 cores.
EXAMPLES = 100
PUBLIC = "93.184.216.34"


def public_dns(host: str) -> list[str]:
    """The guard's resolver here: every name is a public address (example.com's), so
    schema-valid URLs are accepted (201/200) and no lookup reaches a DNS server. Fetching
    them is refused by LocalOnly."""
    return [PUBLIC]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Template]:
    """The news site (up for the whole module: check now fetches from it) and the story."""
    with pytest.MonkeyPatch.context() as env, \
            NewsSite(outlets=["apnews", "cnn", "reuters"], static_outlets=["reuters"]) as site:
        for key, value in TEST_ENV.items():
            env.setenv(key, value)
        env.setattr(guard, "resolve", public_dns)
        yield build_template(site, tmp_path_factory.mktemp("story"))


def _config(token: str) -> schemathesis.Config:
    return schemathesis.Config.from_dict({
        "headers": {"Authorization": f"Bearer {token}"},
        "operations": [{
            # Whether a URL may be watched is not all in the schema (a port out of range, a
            # host that is private): a schema-valid URL may still get the documented 422.
            "include-path": "/api/sources", "include-method": "POST",
            "checks": {"positive_data_acceptance": {
                "expected-statuses": ["2xx", 401, 403, 404, 409, 422, 429]}},
        }],
    })


@pytest.fixture
def api_schema(template: Template, tmp_path: Path) -> Iterator[Any]:
    """The app on a fresh copy of the story, as schemathesis sees it."""
    with story_copy(template, tmp_path / "home") as (home, ctx):
        app = create_app(home, runner=CheckRunner(home, ctx), clock=ctx.clock)
        schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=_config(template.token))
        for where in ("path_parameters", "query"):
            schema.hook(f"flatmap_{where}")(_story_values(template.ids))
        try:
            yield schema
        finally:
            # Schemathesis keeps the app's lifespan running; end it (a check still running
            # is cancelled) before the check context closes.
            schemathesis.python.asgi.shutdown_lifespans()


def _story_values(known: dict[str, list[Any]]) -> Any:
    """Generated ids that fit the schema become ones the story has, so the fuzzing phase
    answers with real data; the coverage phase still sends the 0s, the huge ones and the
    unknown ones (404, 422). An invalid value is left alone, so a case meant to break the
    schema still breaks it."""
    def swap(context: HookContext, parameters: dict[str, Any] | None) -> Any:
        swaps = {name: st.sampled_from(known[name]) for name, value in (parameters or {}).items()
                 if known.get(name) and _valid(name, value)}
        if not swaps:
            return st.just(parameters)
        kept = {name: st.just(value) for name, value in (parameters or {}).items()}
        return st.fixed_dictionaries({**kept, **swaps})
    return swap


def _valid(name: str, value: Any) -> bool:
    if name == "event_id":
        return isinstance(value, str)
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ID


schema = schemathesis.pytest.from_fixture("api_schema")
HYPOTHESIS = settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
                      suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
# Schemathesis runs every operation of one test function on one fixture: removing sources
# (purge) gets its own copy of the story, so the operations in the first test see all of it.
REMOVE = {"method": "DELETE", "path": "/api/sources/{source_id}"}


@schema.exclude(**REMOVE).parametrize()
@HYPOTHESIS
def test_api_conforms_to_its_schema(case: Case, template: Template) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {template.token}"})


@schema.include(**REMOVE).parametrize()
@HYPOTHESIS
def test_removing_conforms_to_the_schema(case: Case, template: Template) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {template.token}"})


def test_call_and_validate_runs_the_checks_this_module_relies_on(api_schema: Any) -> None:
    """call_and_validate's defaults (every check the config enables) are the ones the module
    docstring names: a schemathesis upgrade that turned one off would fail here."""
    load_all_checks()
    operation = api_schema.find_operation_by_label("GET /api/sources")
    config = operation.schema.config.checks_config_for(operation=operation, phase=None)
    enabled = {name for name in CHECKS.get_all_names() if config.get_by_name(name=name).enabled}
    assert {"not_a_server_error", "status_code_conformance", "content_type_conformance",
            "response_schema_conformance", "negative_data_rejection", "positive_data_acceptance",
            "unsupported_method", "allow_header_conformance", "ignored_auth"} <= enabled
