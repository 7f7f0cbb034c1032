"""One Settings object for the whole system, read from KEHU_* environment variables."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Runtime configuration. Every setting is documented in docs/configuration.md."""

    model_config = SettingsConfigDict(env_prefix="KEHU_", extra="ignore")

    #: SQLAlchemy URL of the store; default is the embedded SQLite file under var/.
    database_url: str = Field(default="sqlite:///var/kehu.db")
    #: Directory for the embedded store, key file and uploads.
    var_dir: Path = Field(default=Path("var"))
    #: Path of the key file created by `kehu init` (mode 0600).
    key_file: Path | None = None
    #: Key material as JSON (overrides the key file); never stored in the database.
    keys: SecretStr | None = None
    #: Lifetime of an API token or web session, in minutes.
    session_minutes: int = 480
    #: Failed logins in a row before the account is locked.
    lockout_threshold: int = 5
    #: How long a locked account stays locked, in minutes.
    lockout_minutes: int = 15
    #: How long a revealed value stays visible in the web UI, in seconds.
    reveal_seconds: int = 60
    #: Secret for signing web session cookies (generated into the key file when absent).
    session_secret: SecretStr | None = None
    #: Host and port for `kehu serve`.
    host: str = "127.0.0.1"
    port: int = 8000
    #: Mark session cookies Secure (set true behind HTTPS).
    secure_cookies: bool = False
    #: Run the tags' scheduled full evaluation inside `kehu serve` (its period and hour are tag settings,
    #: quarterly at 02:00 by default); off, the quarterly run is `kehu tags evaluate` from cron.
    tag_schedule: bool = True
    #: Directory of backups written by `kehu backup` and the scheduled backup (default var_dir/backups).
    backup_dir: Path | None = None
    #: Minutes between scheduled backups taken by `kehu serve` (0 = no scheduled backup).
    backup_interval_minutes: int = 0
    #: Data backups kept by the scheduled backup (older ones deleted; 0 = keep all).
    backup_keep: int = 14
    #: Key escrow files kept (short: a deleted customer's key survives only in escrows made before).
    backup_keep_keys: int = 2
    #: Largest file accepted as an order/contract attachment, in bytes.
    attachment_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    #: Public collection form: submissions allowed per client address within `intake_rate_window` seconds.
    intake_rate_limit: int = 5
    #: Public collection form: length of the rate-limit window, in seconds.
    intake_rate_window: int = 600

    def resolved_key_file(self) -> Path:
        """The key file path: explicit setting or var_dir/keys.json."""
        return self.key_file or (self.var_dir / "keys.json")

    def resolved_backup_dir(self) -> Path:
        """Where backups go: explicit setting or var_dir/backups."""
        return self.backup_dir or (self.var_dir / "backups")


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (cached; tests clear the cache)."""
    return Settings()
