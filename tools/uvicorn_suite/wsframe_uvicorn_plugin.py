"""pytest plugin run with uvicorn's own test suite (`-p wsframe_uvicorn_plugin`, see tools/uvicorn_suite.sh).

It adds wsframe's protocol to the parametrization of uvicorn's ``ws_protocol_cls`` fixture, without
editing uvicorn's files, so that every test uvicorn runs for its ``wsproto`` and ``websockets-sansio``
protocols also runs for ``wsframe``. At the end it prints the outcomes per protocol class and lists the
tests that pass for one of uvicorn's classes but not for wsframe's (and the run fails if there are any).
"""

from __future__ import annotations

import collections

import pytest

WSFRAME_PROTOCOL = "wsframe.integrations.uvicorn:WebSocketProtocol"
WSFRAME_ID = "wsframe"
# The short names of the classes, as uvicorn's fixture ids name them.
PROTOCOL_IDS = {
    "uvicorn.protocols.websockets.wsproto_impl:WSProtocol": "wsproto",
    "uvicorn.protocols.websockets.websockets_sansio_impl:WebSocketsSansIOProtocol": "websockets-sansio",
    WSFRAME_PROTOCOL: WSFRAME_ID,
}
OTHER = "(tests without ws_protocol_cls)"


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc):
    # Runs before pytest turns the fixture's params into test ids (FixtureManager.pytest_generate_tests).
    for fixturedef in metafunc._arg2fixturedefs.get("ws_protocol_cls", ()):
        params = list(fixturedef.params or ())
        if not any(getattr(param, "id", None) == WSFRAME_ID for param in params):
            fixturedef.params = (*params, pytest.param(WSFRAME_PROTOCOL, id=WSFRAME_ID))


def pytest_collection_modifyitems(items):
    # Recorded on the report (user_properties survive pytest-xdist), so the summary can pair the tests.
    for item in items:
        params = dict(getattr(getattr(item, "callspec", None), "params", {}))
        protocol = PROTOCOL_IDS.get(params.pop("ws_protocol_cls", None), OTHER)
        pairing = (item.nodeid.split("[")[0], tuple(sorted((name, repr(value)) for name, value in params.items())))
        item.user_properties.append(("ws_protocol", protocol))
        item.user_properties.append(("ws_pairing", repr(pairing)))


class _Outcomes:
    def __init__(self):
        self.by_test = {}  # (protocol, pairing) -> outcome
        self.nodeids = {}  # (protocol, pairing) -> nodeid

    def pytest_runtest_logreport(self, report):
        properties = dict(report.user_properties)
        if "ws_protocol" not in properties:
            return
        key = (properties["ws_protocol"], properties["ws_pairing"])
        self.nodeids[key] = report.nodeid
        previous = self.by_test.get(key)
        if report.failed:
            self.by_test[key] = "failed"
        elif report.skipped and previous is None:
            self.by_test[key] = "skipped"
        elif report.when == "call" and report.passed and previous is None:
            self.by_test[key] = "passed"

    def regressions(self):
        """wsframe tests that failed where one of uvicorn's classes passed the same test."""
        passed_elsewhere = {
            pairing for (protocol, pairing), outcome in self.by_test.items() if protocol != WSFRAME_ID and outcome == "passed"
        }
        return sorted(
            self.nodeids[(protocol, pairing)]
            for (protocol, pairing), outcome in self.by_test.items()
            if protocol == WSFRAME_ID and outcome != "passed" and pairing in passed_elsewhere
        )

    def pytest_terminal_summary(self, terminalreporter):
        counts = collections.defaultdict(collections.Counter)
        for (protocol, _), outcome in self.by_test.items():
            counts[protocol][outcome] += 1
        write = terminalreporter.write_line
        terminalreporter.section("outcomes per WebSocket protocol class (wsframe_uvicorn_plugin)")
        for protocol in sorted(counts):
            tally = counts[protocol]
            write(f"{protocol:32} passed {tally['passed']:4}  failed {tally['failed']:4}  skipped {tally['skipped']:4}")
        regressions = self.regressions()
        write(f"tests passed by a uvicorn class but not by wsframe: {len(regressions)}")
        for nodeid in regressions:
            write(f"  {nodeid}")

    def pytest_sessionfinish(self, session):
        if self.regressions() and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_configure(config):
    if not hasattr(config, "workerinput"):  # the controller (or a run without xdist) keeps the tally
        config.pluginmanager.register(_Outcomes(), "wsframe_uvicorn_outcomes")
