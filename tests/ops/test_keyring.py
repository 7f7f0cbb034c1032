"""The key file: backup keys, key ids never reused, retirement, atomic 0600 replacement, reload."""
from __future__ import annotations

import json
import stat

import pytest

from kehu.security.crypto import Crypto
from kehu.security.keyring import KeyError_, KeyFileWatch, KeyRing, load_keyring


def test_a_key_file_without_backup_section_still_loads():
    data = json.loads(KeyRing.generate().to_json())
    del data["backup"]
    ring = KeyRing.from_json(json.dumps(data))
    assert ring.backup == {} and ring.backup_active is None
    ring2, kid = ring.with_new_key("backup")
    assert kid == "k1" and ring2.backup_active == "k1"


def test_new_ids_skip_retired_ones_and_active_keys_cannot_retire():
    ring, m2 = KeyRing.generate().with_new_key("master")
    ring = ring.without("m1")
    assert m2 == "m2" and ring.retired == ("m1",) and set(ring.master) == {"m2"}
    with pytest.raises(KeyError_):
        ring.without("m2")
    with pytest.raises(KeyError_):
        ring.without("nope")
    again = KeyRing.from_json(ring.to_json())
    assert again == ring and again.with_new_key("master")[1] == "m3"


def test_replace_file_is_atomic_and_private(tmp_path):
    path = tmp_path / "keys.json"
    ring = KeyRing.generate()
    ring.write(path)
    rotated, _ = ring.with_new_key("blind")
    rotated.replace_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_keyring(env_value=None, path=path) == rotated
    assert [p.name for p in tmp_path.iterdir()] == ["keys.json"]  # no temp file left behind


def test_crypto_reloads_a_replaced_key_file(tmp_path):
    path = tmp_path / "keys.json"
    ring = KeyRing.generate()
    ring.write(path)
    crypto = Crypto(ring)
    crypto.follow(KeyFileWatch(path, interval=0))
    rotated, _ = ring.with_new_key("blind")
    rotated.replace_file(path)
    digests = crypto.blind_indexes("mobile", "13900000001")
    assert len(digests) == 2 and digests[0] == crypto.blind_index("mobile", "13900000001", key_id="b2")
