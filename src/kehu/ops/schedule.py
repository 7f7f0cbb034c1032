"""Scheduled backups inside `kehu serve`: one background thread, one process per backup directory.

The next backup is due one interval after the newest backup file, so a restart neither skips
nor repeats one. With several uvicorn workers only the holder of the directory's lock file runs
the schedule (the others keep trying to take the lock, so one takes over if the holder exits).
"""
from __future__ import annotations

import fcntl
import logging
import threading
import time
from pathlib import Path

from kehu.ops import backup as bk
from kehu.runtime import Kehu

log = logging.getLogger("kehu.ops")


class BackupSchedule:
    """A daemon thread taking `kehu backup` every `interval` seconds with retention."""

    def __init__(self, kehu: Kehu, *, interval: float, directory: Path, keep: int, keep_keys: int):
        self.kehu, self.interval, self.directory = kehu, interval, directory
        self.keep, self.keep_keys = keep, keep_keys
        self._stop = threading.Event()
        self._lock_fh = None
        self.thread = threading.Thread(target=self._run, name="kehu-backup-schedule", daemon=True)

    def start(self) -> "BackupSchedule":
        """Start the thread."""
        self.thread.start()
        return self

    def stop(self) -> None:
        """Ask the thread to stop after its current step."""
        self._stop.set()

    def due_in(self) -> float:
        """Seconds until the next backup is due (0 when overdue or none exists yet)."""
        files = bk.backups(self.directory, bk.DATA)
        if not files:
            return 0.0
        return max(0.0, files[-1].stat().st_mtime + self.interval - time.time())

    def _owner(self) -> bool:
        if self._lock_fh is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            fh = open(self.directory / ".schedule.lock", "a")
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                fh.close()
                return False
            self._lock_fh = fh
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self._owner():
                self._stop.wait(min(self.interval, 60))
                continue
            wait = self.due_in()
            if wait > 0:
                self._stop.wait(min(wait, 60))
                continue
            try:
                result = bk.create(self.kehu, to=self.directory, keep=self.keep or None,
                                   keep_keys=self.keep_keys or None, actor="scheduler")
                log.info("scheduled backup written: %s", result.path.name)
            except Exception:  # noqa: BLE001 — a failed run is logged and retried next interval
                log.exception("scheduled backup failed")
                self._stop.wait(min(self.interval, 300))


def install(kehu: Kehu) -> BackupSchedule | None:
    """Start the schedule when KEHU_BACKUP_INTERVAL_MINUTES is set."""
    s = kehu.settings
    if s.backup_interval_minutes <= 0:
        return None
    return BackupSchedule(kehu, interval=s.backup_interval_minutes * 60.0, directory=s.resolved_backup_dir(),
                          keep=s.backup_keep, keep_keys=s.backup_keep_keys).start()
