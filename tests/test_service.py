"""The HTTP service: the app in process (httpx through Starlette's TestClient) and the real
server on 127.0.0.1. Skipped without the ``service`` extra."""

from __future__ import annotations

import json
import logging
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")
from starlette.testclient import TestClient  # noqa: E402

from payer_rules.service import create_app  # noqa: E402
from payer_rules.service.openapi import openapi_json  # noqa: E402

from test_x12 import THERAPY  # noqa: E402

ROOT = Path(__file__).parents[1]
EXAMPLES = ROOT / "docs" / "examples" / "claims.jsonl"
CHECK_TOKEN = "c" * 24
ADMIN_TOKEN = "a" * 24


def cli(*args: str) -> bytes:
    return subprocess.run([sys.executable, "-m", "payer_rules.cli", *args], capture_output=True, cwd=ROOT).stdout


@pytest.fixture(scope="module")
def tokens(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("tok") / "tokens"
    p.write_text(f"# roles\ncheck {CHECK_TOKEN}\nadmin {ADMIN_TOKEN}\n")
    return p


@pytest.fixture(scope="module")
def client(tokens):
    return TestClient(create_app(tokens_file=str(tokens), max_claims=50, max_lines=5, max_body_bytes=200_000))


def auth(token: str = CHECK_TOKEN) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_check_is_byte_identical_to_the_cli(client):
    body = EXAMPLES.read_bytes()
    r = client.post("/v1/check", content=body, headers={**auth(), "content-type": "application/x-ndjson"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
    assert r.content == cli("check", str(EXAMPLES))
    assert r.headers["x-request-id"] and r.headers["x-policy-generation"]


def test_one_claim_and_a_json_array(client):
    claims = [json.loads(x) for x in EXAMPLES.read_text().splitlines() if x.strip()]
    one = client.post("/v1/check", json=claims[1], headers=auth())
    assert one.status_code == 200 and json.loads(one.content)["status"] == "fail"
    many = client.post("/v1/check", json=claims, headers=auth())
    assert len(many.content.splitlines()) == len(claims)


def test_x12_by_content_type_matches_the_cli(client, tmp_path):
    f = tmp_path / "c.837"
    f.write_text(THERAPY)
    r = client.post("/v1/check", content=THERAPY.encode(), headers={**auth(), "content-type": "application/edi-x12"})
    assert r.status_code == 200
    got = [json.loads(x) for x in r.content.splitlines()]
    want = [json.loads(x) for x in cli("check", str(f)).splitlines()]
    # unreadable records name their place: the file there, "request" here; all else is the same
    for g, w in zip(got, want, strict=True):
        if g["status"] != "error":
            assert g == w


def test_explain_and_fix_match_the_cli(client):
    body = EXAMPLES.read_bytes()
    assert client.post("/v1/fix", content=body, headers=auth()).content == cli("check", "--fix", str(EXAMPLES))
    ex = client.post("/v1/explain", content=body, headers=auth())
    assert ex.content == cli("explain", "--format", "json", str(EXAMPLES))


def test_fixes_in_words_are_an_extra_key(client):
    body = EXAMPLES.read_bytes()
    r = client.post("/v1/check?fix_text=1", content=body, headers=auth())
    rows = [json.loads(x) for x in r.content.splitlines()]
    fails = [x for x in rows if x["status"] == "fail"]
    assert any(w and w.startswith("Bill ") for x in fails for w in x["fixes_in_words"])
    assert all(len(x["fixes_in_words"]) == len(x["edits"]) for x in rows)


def test_payers_and_edit_catalogue(client):
    payers = client.get("/v1/payers", headers=auth()).json()
    assert {p["payer"] for p in payers} >= {"medicare"} and payers[0]["versions"]
    edits = client.get("/v1/edits", headers=auth()).json()
    assert "ncci.ptp" in {e["id"] for e in edits} and {"category", "denial"} <= set(edits[0])
    assert client.get("/v1/edits?payer=nobody", headers=auth()).status_code == 404


def test_tokens_and_roles(client):
    assert client.post("/v1/check", json={}).status_code == 401
    assert client.post("/v1/check", json={}, headers=auth("x" * 24)).status_code == 401
    assert client.post("/v1/reload", headers=auth()).status_code == 403
    assert client.post("/v1/reload", headers=auth(ADMIN_TOKEN)).status_code == 200
    assert client.get("/healthz").status_code == 200 and client.get("/readyz").json()["status"] == "ready"


def test_tokens_rotate_on_reload(tmp_path):
    p = tmp_path / "tokens"
    p.write_text(f"admin {ADMIN_TOKEN}\ncheck {CHECK_TOKEN}\n")
    c = TestClient(create_app(tokens_file=str(p)))
    assert c.get("/v1/payers", headers=auth()).status_code == 200
    p.write_text(f"admin {ADMIN_TOKEN}\ncheck {'n' * 24}\n")
    assert c.post("/v1/reload", headers=auth(ADMIN_TOKEN)).status_code == 200
    assert c.get("/v1/payers", headers=auth()).status_code == 401
    assert c.get("/v1/payers", headers=auth("n" * 24)).status_code == 200


def test_tokens_from_the_environment(monkeypatch):
    monkeypatch.setenv("PAYER_RULES_TOKENS", f"check:{CHECK_TOKEN}")
    monkeypatch.delenv("PAYER_RULES_TOKENS_FILE", raising=False)
    c = TestClient(create_app())
    assert c.get("/v1/payers", headers=auth()).status_code == 200
    assert c.post("/v1/reload", headers=auth()).status_code == 403


def test_limits(client):
    assert client.post("/v1/check", content=b"{}" * 200_001, headers=auth()).status_code == 413
    claim = json.loads(EXAMPLES.read_text().splitlines()[0])
    r = client.post("/v1/check", json=[claim] * 51, headers=auth())
    assert r.status_code == 413 and "POST /v1/jobs" in r.json()["error"]
    wide = dict(claim, lines=[dict(claim["lines"][0], line=i) for i in range(1, 7)])
    rows = [json.loads(x) for x in client.post("/v1/check", json=[claim, wide], headers=auth()).content.splitlines()]
    assert rows[0]["status"] != "error" and rows[1]["status"] == "error" and "lines per claim" in rows[1]["error"]


def test_time_limit(tokens):
    c = TestClient(create_app(tokens_file=str(tokens), time_limit=1e-9))
    r = c.post("/v1/check", content=EXAMPLES.read_bytes(), headers=auth())
    assert r.status_code == 503 and "time limit" in r.json()["error"]


def test_access_log_has_no_claim_data(client, caplog):
    with caplog.at_level(logging.INFO, logger="payer_rules.access"):
        r = client.post("/v1/check?payer=medicare", content=EXAMPLES.read_bytes(),
                        headers={**auth(), "X-Request-ID": "req-42"})
    text = "\n".join(rec.getMessage() for rec in caplog.records if rec.name == "payer_rules.access")
    assert "POST /v1/check 200" in text and "request_id=req-42" in text and "claims=" in text
    assert r.headers["x-request-id"] == "req-42"
    for secret in ("EX-001", "97110", "medicare", CHECK_TOKEN):
        assert secret not in text


def test_jobs_give_the_batch_output(client):
    body = EXAMPLES.read_bytes()
    r = client.post("/v1/jobs", content=body, headers=auth())
    assert r.status_code == 202
    job = r.json()["id"]
    for _ in range(200):
        st = client.get(f"/v1/jobs/{job}", headers=auth()).json()
        if st["status"] in ("done", "failed"):
            break
        time.sleep(0.05)
    assert st["status"] == "done" and st["summary"]["claims"] == len(body.splitlines())
    out = client.get(f"/v1/jobs/{job}/results", headers=auth())
    assert out.content == cli("check", str(EXAMPLES))
    assert client.get("/v1/jobs/nope", headers=auth()).status_code == 404


def test_metrics(client):
    client.post("/v1/check", content=EXAMPLES.read_bytes(), headers=auth())
    text = client.get("/metrics").text
    assert 'payer_rules_claims_checked_total{status="fail"}' in text
    assert 'payer_rules_edits_total{category="units"}' in text
    assert 'payer_rules_http_request_duration_seconds_bucket{route="/v1/check",le="+Inf"}' in text


def test_openapi_is_served_and_docs_copy_is_current(client):
    served = client.get("/openapi.json").json()
    assert served["openapi"] == "3.1.0" and "/v1/check" in served["paths"]
    assert served["components"]["schemas"]["Claim"]["properties"]["lines"]
    doc = ROOT / "docs" / "openapi.json"
    assert doc.read_text() == openapi_json(), "regenerate: python -m payer_rules.service.openapi > docs/openapi.json"


def test_page_is_offline(client):
    page = client.get("/").text
    assert "<label for=\"claims\">" in page and "page.js" in page
    for name in ("page.js", "page.css"):
        r = client.get(f"/static/{name}")
        assert r.status_code == 200
        assert "http://" not in r.text and "https://" not in r.text
    assert "connect-src 'self'" in client.get("/").headers["content-security-policy"]


def test_reload_under_load_gives_one_version_per_request(tmp_path, tokens):
    """Requests racing reloads between two policy sets: each response's claims all carry
    one policy version."""
    a, b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(ROOT / "payer_configs", a, ignore=shutil.ignore_patterns("*.test.yaml", "__init__.py"))
    shutil.copytree(a, b)
    live = tmp_path / "live"
    shutil.copytree(a, live)
    m = (b / "medicare.yaml").read_text().replace('- version: "2024.1"', '- version: "2024.1-b"')
    (b / "medicare.yaml").write_text(m)
    c = TestClient(create_app(policies=[str(live)], tokens_file=str(tokens)))
    claim = json.loads(EXAMPLES.read_text().splitlines()[0])
    body = "\n".join(json.dumps(dict(claim, claim_id=f"L{i}")) for i in range(40)).encode()
    seen: list[set] = []
    stop = threading.Event()

    def hammer():
        while not stop.is_set():
            r = c.post("/v1/check", content=body, headers=auth())
            seen.append({json.loads(x)["policy"]["version"] for x in r.content.splitlines()})

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(6):
        shutil.copy((b if i % 2 == 0 else a) / "medicare.yaml", live / "medicare.yaml")
        assert c.post("/v1/reload", headers=auth(ADMIN_TOKEN)).status_code == 200
        time.sleep(0.05)
    stop.set()
    for t in threads:
        t.join()
    assert seen and all(len(s) == 1 for s in seen)
    assert {v for s in seen for v in s} == {"2024.1", "2024.1-b"}


def test_bad_reload_keeps_the_policies(tmp_path, tokens):
    live = tmp_path / "live"
    shutil.copytree(ROOT / "payer_configs", live, ignore=shutil.ignore_patterns("*.test.yaml", "__init__.py"))
    c = TestClient(create_app(policies=[str(live)], tokens_file=str(tokens)))
    (live / "medicare.yaml").write_text("payer: [unclosed\n")
    r = c.post("/v1/reload", headers=auth(ADMIN_TOKEN))
    assert r.status_code == 422 and r.json()["problems"]
    assert c.get("/readyz").json()["generation"] == 1
    assert c.post("/v1/check", content=EXAMPLES.read_bytes(), headers=auth()).status_code == 200


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_real_server(tokens):
    import httpx
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "payer_rules.cli", "serve", "--port", str(port),
                             "--tokens-file", str(tokens)], cwd=ROOT, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if httpx.get(url + "/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        r = httpx.post(url + "/v1/check", content=EXAMPLES.read_bytes(), headers=auth())
        assert r.status_code == 200 and r.content == cli("check", str(EXAMPLES))
        assert httpx.get(url + "/v1/payers").status_code == 401
    finally:
        proc.terminate()
        proc.wait(10)


def test_serve_refuses_open_remote_binding():
    r = subprocess.run([sys.executable, "-m", "payer_rules.cli", "serve", "--no-auth", "--host", "0.0.0.0"],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and "loopback" in r.stderr
