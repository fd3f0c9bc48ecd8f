"""A PostgreSQL server of the test's own, on its own port and data folder, to stop and start.

The machine's PostgreSQL on port 5432 is never stopped: fault tests that take the database
away start one of these (Debian's `initdb` and `pg_ctl`). PostgreSQL refuses to run as
root, so as root the folder is handed to the `postgres` user and the tools run as that user.

    with PrivatePostgres() as server:
        db = open_database(server.url)
        server.stop("fast")        # or "immediate": no goodbye to the clients
        server.start()
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

__all__ = ["PrivatePostgres", "postgres_tools_problem"]

_TOOL_FOLDERS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def _tool(name: str) -> str | None:
    for folder in _TOOL_FOLDERS:
        if (folder / name).exists():
            return str(folder / name)
    return shutil.which(name)


def postgres_tools_problem() -> str | None:
    """Why a private server cannot be started here, or None."""
    if _tool("initdb") is None or _tool("pg_ctl") is None:
        return "initdb and pg_ctl are not installed (apt-get install postgresql)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root without a postgres user to run initdb as"
    return None


class PrivatePostgres:
    """initdb into a folder of its own, then start and stop the server as the test asks.

    The folder is made under the system's temporary folder rather than pytest's, whose
    folders only their owner may enter.
    """

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="syndicate-pg-"))
        self.data = self.folder / "data"
        self.port = _free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def __enter__(self) -> PrivatePostgres:
        self._hand_over(self.folder)
        self._as_owner(
            [_tool("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]
        )
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop("immediate", check=False)
        shutil.rmtree(self.folder, ignore_errors=True)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = self.folder / "server.log"
        self._as_owner(
            [_tool("pg_ctl"), "-D", str(self.data), "-l", str(log), "-o", options, "-w", "start"]
        )

    def stop(self, mode: str = "fast", *, check: bool = True) -> None:
        self._as_owner(
            [_tool("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"], check=check
        )

    def _hand_over(self, folder: Path) -> None:
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(folder, owner.pw_uid, owner.pw_gid)

    def _as_owner(self, command: list[str | None], *, check: bool = True) -> None:
        words = [str(word) for word in command]
        if os.geteuid() == 0:
            words = ["runuser", "-u", "postgres", "--", *words]
        result = subprocess.run(words, capture_output=True, text=True, timeout=120)
        if check and result.returncode != 0:
            raise RuntimeError(f"{' '.join(words)} failed: {result.stderr or result.stdout}")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
