import pytest

from tasks.settings import Settings, SettingsError


def test_defaults_match_the_documented_values():
    settings = Settings.from_env({})
    assert (settings.max_batch_size, settings.batch_wait_ms, settings.model_dtype) == (32, 10, "auto")
    assert settings.model_name == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert settings.redis_url == "redis://127.0.0.1:6379/0"


def test_values_are_read_from_upper_case_variables():
    settings = Settings.from_env({"MAX_BATCH_SIZE": "16", "BATCH_WAIT_MS": "10", "SYNC_TIMEOUT_S": "2.5"})
    assert (settings.max_batch_size, settings.batch_wait_ms, settings.sync_timeout_s) == (16, 10, 2.5)
    assert settings.batch_wait_s == 0.01


def test_the_cache_thresholds_default_to_those_calibrated_for_the_cache_with_or_without_its_model():
    unset = Settings.from_env({})
    assert unset.cache_bars(with_model=True) == (0.76, 0.77, 0.72)
    assert unset.cache_bars(with_model=False)[:2] == (0.77, 0.85)  # the rules alone need higher bars
    chosen = Settings.from_env({"CACHE_THRESHOLD": "0.8", "CACHE_PARAPHRASE_THRESHOLD": "0.9"})
    assert chosen.cache_bars(with_model=True) == (0.8, 0.77, 0.9)  # what is set holds in either case
    assert chosen.cache_bars(with_model=False)[:2] == (0.8, 0.85)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MAX_BATCH_SIZE": "eight"}, "MAX_BATCH_SIZE must be an integer, got 'eight'"),
        ({"MAX_BATCH_SIZE": "0"}, "MAX_BATCH_SIZE must be between 1 and 256, got 0"),
        ({"BATCH_WAIT_MS": "-5"}, "BATCH_WAIT_MS must be between 0 and 60000"),
        ({"REDIS_URL": "localhost:6379"}, "REDIS_URL must start with redis://"),
        ({"DEVICE": "tpu"}, "DEVICE must be auto, cpu, cuda or cuda:N"),
        ({"DEFAULT_MAX_TOKENS": "600"}, "DEFAULT_MAX_TOKENS must be between 1 and 512"),
        ({"CACHE_THRESHOLD": "high"}, "CACHE_THRESHOLD must be a number, got 'high'"),
        ({"CACHE_PARAPHRASE_THRESHOLD": "1.5"}, "CACHE_PARAPHRASE_THRESHOLD must be between 0.0 and 1.0"),
        ({"WORKER_NICE": "-5"}, "WORKER_NICE must be between 0 and 19"),  # raising a priority needs privileges
    ],
)
def test_bad_values_stop_start_up_with_a_clear_message(env, message):
    with pytest.raises(SettingsError, match=message.replace("(", r"\(")):
        Settings.from_env(env)


def test_api_keys_map_keys_to_tenants_and_refuse_weak_ones(tmp_path):
    from webapi.auth import KeyRing, digest

    key_file = tmp_path / "keys"
    key_file.write_text(f"# tenants\ncarol:carol-key-0123456789\ndave:sha256:{digest('dave-key-0123456789')}\n")
    ring = KeyRing(Settings.from_env({"API_KEYS": "alice:alice-key-0123456789", "API_KEYS_FILE": str(key_file)}))
    assert [ring.tenant(k) for k in ("alice-key-0123456789", "carol-key-0123456789", "dave-key-0123456789")] == [
        "alice",
        "carol",
        "dave",
    ]
    assert ring.tenant("dave") is None and "carol-key-0123456789" not in str(ring.keys)  # kept as digests only
    assert not KeyRing(Settings.from_env({})).enabled
    for bad in ("alice", "alice:short", ":no-tenant-0123456789"):
        with pytest.raises(SettingsError, match="tenant:key"):
            KeyRing(Settings.from_env({"API_KEYS": bad}))


def test_a_changed_key_file_is_read_again_and_a_broken_one_keeps_the_old_keys(tmp_path, monkeypatch):
    import os

    from webapi import auth

    monkeypatch.setattr(auth, "RELOAD_CHECK_S", 0.0)
    key_file = tmp_path / "keys"
    key_file.write_text("carol:carol-key-0123456789\n")
    ring = auth.KeyRing(Settings.from_env({"API_KEYS_FILE": str(key_file)}))
    key_file.write_text(f"erin:sha256:{auth.digest('erin-key-0123456789')}\n")  # carol revoked, erin added
    os.utime(key_file, (1, 1))
    assert ring.tenant("erin-key-0123456789") == "erin" and ring.tenant("carol-key-0123456789") is None
    key_file.write_text("erin:short\n")
    os.utime(key_file, (2, 2))
    assert ring.tenant("erin-key-0123456789") == "erin"  # a broken file never locks everyone out


def test_llm_keys_prints_a_new_key_once_and_stores_only_its_digest(tmp_path):
    import subprocess
    import sys

    from webapi.auth import KeyRing

    key_file = tmp_path / "keys"
    made = subprocess.run(
        [sys.executable, "-c", "from webapi.auth import main; main()", "new", "frank", "--file", str(key_file)],
        capture_output=True,
        text=True,
        check=True,
    )
    key = made.stdout.splitlines()[-1]
    assert key.startswith("sk-") and key not in key_file.read_text()
    assert KeyRing(Settings.from_env({"API_KEYS_FILE": str(key_file)})).tenant(key) == "frank"
