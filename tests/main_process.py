"""``python -m wsframe`` as a child of a test, killed and reaped however the test ends."""

import contextlib
import os
import signal
import subprocess
import sys

import wsframe

# Where the wsframe under test lives (the checkout, or site-packages for an installed wheel): the child
# process imports that one (`python -m` puts its working directory first on the path).
PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(wsframe.__file__)))


def _default_sigint():
    # Even when the test runs in a background job, where SIGINT is ignored and children inherit that.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextlib.contextmanager
def main_process(*options):
    """Runs ``python -m wsframe OPTIONS``; yields the process and the banner line it printed first.

    The child leads a process group of its own. On the way out, unless the test already reaped it, the
    whole group (the ``--workers`` processes too) is killed and the child reaped: a test that fails
    before its own stop leaves nothing running, and nothing holding the child's stdout open.
    """
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [PACKAGE_PARENT, os.environ.get("PYTHONPATH")])))
    process = subprocess.Popen(
        [sys.executable, "-m", "wsframe", *options],
        cwd=PACKAGE_PARENT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=_default_sigint,
    )
    try:
        yield process, process.stdout.readline()
    finally:
        # Only while the child is unreaped: until then its pid, the group's id, cannot name another group.
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        process.stdout.close()
