"""`kehu backup`, `kehu restore`, `kehu keys …`: thin commands over kehu.ops."""
from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
from rich.table import Table

from kehu.errors import KehuError

console = Console()
backup_app = typer.Typer(help="加密备份", no_args_is_help=False, invoke_without_command=True)
keys_app = typer.Typer(help="密钥轮换与退役", no_args_is_help=True)


def _runtime():
    from kehu.cli import runtime

    return runtime()


def _ring():
    """The key ring from settings alone (restore and verify need no store)."""
    from kehu.config import get_settings
    from kehu.security.keyring import load_keyring

    s = get_settings()
    return load_keyring(env_value=s.keys.get_secret_value() if s.keys else None, path=s.resolved_key_file())


def _fail(exc: KehuError) -> None:
    console.print(f"[red]{exc.message}[/red]")
    raise typer.Exit(1)


@backup_app.callback()
def backup(ctx: typer.Context,
           to: Path = typer.Option(None, "--to", help="backup directory (default KEHU_BACKUP_DIR, var/backups)"),
           keep: int = typer.Option(None, help="keep only the newest N data backups"),
           keep_keys: int = typer.Option(None, help="keep only the newest N key escrow files")) -> None:
    """Write an encrypted backup of the store (consistent while the server runs) and its key escrow."""
    if ctx.invoked_subcommand is not None:
        return
    from kehu.ops import backup as bk

    kehu = _runtime()
    try:
        result = bk.create(kehu, to=to or kehu.settings.resolved_backup_dir(), keep=keep, keep_keys=keep_keys)
    except KehuError as exc:
        _fail(exc)
    m = result.manifest
    console.print(f"已写入备份 {result.path}（{m['payload_bytes']} 字节，SHA-256 {m['payload_sha256'][:16]}…）")
    console.print(f"密钥托管文件 {result.keys_path}（{m['counts'].get('customers', 0)} 个客户的数据密钥；"
                  "请按较短的保留期单独保管）")


@backup_app.command("verify")
def backup_verify(file: Path = typer.Argument(..., exists=True, dir_okay=False, help="a .kbak or .kkeys file")) -> None:
    """Decrypt and check a backup file end to end; print its manifest; exit 1 when it is damaged."""
    from kehu.ops import backup as bk

    try:
        manifest = bk.verify(file, _ring())
    except KehuError as exc:
        _fail(exc)
    console.print("[green]备份完整[/green]（认证标签与 SHA-256 校验和均通过）")
    console.print_json(json.dumps(manifest, ensure_ascii=False))


def restore(backup: Path = typer.Argument(..., exists=True, dir_okay=False, help="the .kbak file"),
            to: Path = typer.Option(None, "--to", help="restore into DIR/kehu.db (SQLite backups)"),
            database_url: str = typer.Option(None, "--database-url", help="restore into this (empty) database"),
            keys: Path = typer.Option(None, "--keys", help="key escrow (.kkeys); default: newest beside BACKUP"),
            force: bool = typer.Option(False, "--force", help="overwrite a non-empty target")) -> None:
    """Restore a backup into a fresh directory or database, then verify counts and the audit chain."""
    from kehu.ops.restore import restore as run

    if (to is None) == (database_url is None):
        console.print("[red]请指定 --to DIR 或 --database-url URL 之一[/red]")
        raise typer.Exit(2)
    url = database_url or f"sqlite:///{(to / 'kehu.db').resolve()}"
    try:
        result = run(backup, _ring(), url=url, keys_path=keys, force=force)
    except KehuError as exc:
        _fail(exc)
    console.print(f"已恢复：客户密钥 {result.keys_restored} 个；无密钥（已销毁）{result.keys_missing} 个")
    console.print(("[green]记录数与清单一致[/green]" if result.counts_ok else
                   f"[red]记录数与清单不符[/red]：{result.count_mismatches}"))
    console.print(f"[green]审计链完整[/green]：共校验 {result.audit_checked} 条" if result.audit_ok else
                  f"[red]审计链校验失败[/red]：{result.audit_problem}")
    if not result.ok:
        raise typer.Exit(1)


def _bar() -> Progress:
    return Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                    TimeRemainingColumn(), console=console)


@keys_app.command("rotate")
def rotate(master: bool = typer.Option(False, "--master", help="new master key; re-wrap every data key"),
           blind_index: bool = typer.Option(False, "--blind-index", help="new blind-index key; recompute indexes"),
           backup: bool = typer.Option(False, "--backup", help="new backup key for future backups"),
           batch: int = typer.Option(500, help="rows per transaction"),
           grace: float = typer.Option(5.0, help="seconds for running servers to load the new key file")) -> None:
    """Rotate keys online (resumes an interrupted rotation of the same kind)."""
    from kehu.ops import keys as ops_keys

    kinds = [k for k, on in (("master", master), ("blind", blind_index), ("backup", backup)) if on]
    if not kinds:
        console.print("[red]请至少指定 --master、--blind-index 或 --backup[/red]")
        raise typer.Exit(2)
    kehu = _runtime()
    for kind in kinds:
        try:
            with _bar() as bar:
                task = bar.add_task(f"{kind}", total=ops_keys.total_rows(kehu, kind) if kind != "backup" else 0)
                out = ops_keys.rotate(kehu, kind, batch=batch, grace=grace,
                                      progress=lambda n, t=task: bar.advance(t, n))
        except KehuError as exc:
            _fail(exc)
        verb = "继续完成" if out["resumed"] else "完成"
        console.print(f"{verb} {kind} 密钥轮换：新密钥 {out['new_key']}，处理 {out['rows']} 行。"
                      "旧密钥不再被引用后可用 kehu keys retire 退役；建议随即做一次备份。")


@keys_app.command("status")
def status(scan: bool = typer.Option(False, "--scan", help="also count blind indexes per key (decrypts every value)")) -> None:
    """Show keys in the ring and how many records reference each."""
    from kehu.ops import keys as ops_keys

    kehu = _runtime()
    ring = kehu.crypto.ring
    counts = ops_keys.master_counts(kehu)
    blind = ops_keys.blind_counts(kehu) if scan else {}
    table = Table("密钥", "类型", "活动", "引用记录数")
    for kid in ring.master:
        table.add_row(kid, "主密钥", "是" if kid == ring.master_active else "", str(counts.get(kid, 0)))
    for kid in ring.blind:
        table.add_row(kid, "盲索引", "是" if kid == ring.blind_active else "", str(blind.get(kid, "—")))
    for kid in ring.backup:
        table.add_row(kid, "备份", "是" if kid == ring.backup_active else "", "—")
    console.print(table)
    console.print(f"已销毁（无密钥）的客户：{counts['no_key']}" + (f"；无法匹配的盲索引：{blind['stale']}" if scan else ""))
    for job in ops_keys.jobs(kehu)[:5]:
        console.print(f"轮换 #{job['id']} {job['kind']} → {job['new_key']}：{job['state']}，{job['rows_done']} 行")


@keys_app.command("retire")
def retire(key_id: str = typer.Argument(..., help="key id, e.g. m1")) -> None:
    """Remove an old key from the key file; refused while any record (or backup) references it."""
    from kehu.ops import keys as ops_keys

    kehu = _runtime()
    try:
        ops_keys.retire(kehu, key_id, backup_dir=kehu.settings.resolved_backup_dir())
    except KehuError as exc:
        _fail(exc)
    console.print(f"密钥 {key_id} 已从密钥文件中删除（退役）")


def register(app: typer.Typer) -> None:
    """Add this package's commands (or sub-apps) to the main CLI."""
    app.add_typer(backup_app, name="backup")
    app.command("restore")(restore)
    app.add_typer(keys_app, name="keys")
