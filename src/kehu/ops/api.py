"""JSON API of `kehu.ops` (none: backups and keys are operated from the command line); start-up hook."""
from __future__ import annotations

from fastapi import APIRouter

from kehu.runtime import Kehu

router = APIRouter()


def install(kehu: Kehu) -> None:
    """Follow the key file (online rotation) and start the scheduled backup when configured."""
    from kehu.ops import schedule
    from kehu.security.keyring import KeyError_, KeyFileWatch, load_keyring

    path = kehu.settings.resolved_key_file()
    if kehu.settings.keys is None and path.exists():
        try:
            from_file = load_keyring(env_value=None, path=path)
        except KeyError_:
            from_file = None
        if from_file == kehu.crypto.ring:  # this runtime's keys are the file's: follow its rotations
            kehu.crypto.follow(KeyFileWatch(path))
    kehu.ops_schedule = schedule.install(kehu)
