"""pytest plugin: ``import wsproto`` loads wsframe.compat.wsproto (``pytest -p wsproto_alias``).

Installed when pytest loads the plugin, before any test module imports wsproto; used by
tools/wsproto_suite.sh to run wsproto's own test suite against wsframe's compat module.
"""

import wsframe
import wsframe.compat.wsproto

wsframe.compat.wsproto.install()


def pytest_report_header(config):
    import wsproto

    return [f"wsproto aliased to {wsproto.__name__} ({wsproto.__file__}); wsframe hot path: {wsframe.IMPLEMENTATION}"]
