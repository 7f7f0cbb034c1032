"""Jobs on a schedule inside `kehu serve`: a background thread each, run in one process per lock file.

`Periodic` is the loop: it asks its job how long until it is due, waits (a minute at most, so a changed
setting counts within a minute), runs it, and after a failure logs it and waits `retry` seconds. With
several uvicorn workers only the holder of the job's lock file runs it (the others keep trying to take the
lock, so one takes over if the holder exits). Two jobs use it: the scheduled backup here (due one interval
after the newest backup file, so a restart neither skips nor repeats one) and the tags' scheduled full
evaluation (`kehu.tags.schedule`).
"""
from __future__ import annotations

import fcntl
import logging
import threading
import time
from pathlib import Path
from typing import Callable

from kehu.ops import backup as bk
from kehu.runtime import Kehu

log = logging.getLogger("kehu.ops")
#: the longest wait between two looks at a job's due time
POLL_SECONDS = 60.0


class Periodic:
    """A daemon thread running `run()` whenever `due_in()` (seconds until due) says 0, in the holder of `lock`."""

    def __init__(self, name: str, *, lock: Path, due_in: Callable[[], float], run: Callable[[], object],
                 retry: float = 300.0):
        self.name, self.lock, self.retry = name, lock, retry
        self._due_in, self._job = due_in, run
        self._stop = threading.Event()
        self._lock_fh = None
        self.thread = threading.Thread(target=self._run, name=f"kehu-{name}", daemon=True)

    def start(self) -> "Periodic":
        """Start the thread."""
        self.thread.start()
        return self

    def stop(self) -> None:
        """Ask the thread to stop after its current step."""
        self._stop.set()

    def due_in(self) -> float:
        """Seconds until the job is next due (0 when due)."""
        return self._due_in()

    def _owner(self) -> bool:
        if self._lock_fh is None:
            self.lock.parent.mkdir(parents=True, exist_ok=True)
            fh = open(self.lock, "a")
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                fh.close()
                return False
            self._lock_fh = fh
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if not self._owner():
                    self._stop.wait(POLL_SECONDS)
                    continue
                wait = self.due_in()
                if wait > 0:
                    self._stop.wait(min(wait, POLL_SECONDS))
                    continue
                self._job()
            except Exception:  # noqa: BLE001 — a failed run is logged and tried again after `retry`
                log.exception("scheduled %s failed", self.name)
                self._stop.wait(self.retry)


class BackupSchedule(Periodic):
    """`kehu backup` every `interval` seconds with retention."""

    def __init__(self, kehu: Kehu, *, interval: float, directory: Path, keep: int, keep_keys: int):
        self.kehu, self.interval, self.directory = kehu, interval, directory
        self.keep, self.keep_keys = keep, keep_keys
        super().__init__("backup-schedule", lock=directory / ".schedule.lock", due_in=self._backup_due_in,
                         run=self._backup, retry=min(interval, 300.0))

    def _backup_due_in(self) -> float:
        files = bk.backups(self.directory, bk.DATA)
        if not files:
            return 0.0
        return max(0.0, files[-1].stat().st_mtime + self.interval - time.time())

    def _backup(self) -> None:
        result = bk.create(self.kehu, to=self.directory, keep=self.keep or None, keep_keys=self.keep_keys or None,
                           actor="scheduler")
        log.info("scheduled backup written: %s", result.path.name)


def install(kehu: Kehu) -> BackupSchedule | None:
    """Start the schedule when KEHU_BACKUP_INTERVAL_MINUTES is set."""
    s = kehu.settings
    if s.backup_interval_minutes <= 0:
        return None
    return BackupSchedule(kehu, interval=s.backup_interval_minutes * 60.0, directory=s.resolved_backup_dir(),
                          keep=s.backup_keep, keep_keys=s.backup_keep_keys).start()
