"""The REST API under load on loopback: concurrent clients, each signed in as its own analyst,
send a fixed mix of searches, listings, review decisions and second-person checks to
`facesift serve` (uvicorn, one process), over the demo case.

Measured: errors (any status but the expected one), latency per kind of request (p50, p99)
and overall, requests per second; then that nothing was lost: the decisions and checks the
API acknowledged are exactly those stored, each has its audit entry, and the audit chain
verifies.

Run: python benchmarks/api_load.py [--clients 20] [--requests 1000]
Writes benchmarks/results/api_load.json.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from _results import write_result
from _serving import served

from facesift import Workspace
from facesift.samples import build_demo

MIX = {"search": 0.10, "list": 0.60, "decide": 0.20, "check": 0.10}
LISTINGS = ["/api/people", "/api/faces?case=demo", "/api/decisions", "/api/media?case=demo",
            "/api/clusters?case=demo"]  # fmt: skip
PASSWORD = "load test password"


def _prepare(folder: Path, clients: int) -> tuple[Path, list[int], list[str]]:
    """The demo case scanned into a workspace, one analyst account per client and an admin;
    (the scene photo, the case's face ids, the gallery's people)."""
    demo = build_demo(folder / "demo")
    with Workspace(folder / "ws", actor="setup") as ws:
        ws.enroll_folder(demo.gallery)
        ws.scan([demo.evidence], case="demo", workers=1)
        faces = [f.face_id for f in ws.identify(case="demo").faces if f.face_id is not None]
        people = [p.name for p in ws.people()]
        ws.add_user("admin", "admin", PASSWORD)
        for n in range(clients):
            ws.add_user(f"client{n:02d}", "analyst", PASSWORD)
    return demo.scene, faces, people


def _percentiles(ms: list[float]) -> dict[str, float | int]:
    values = np.array(ms)
    return {
        "count": len(ms),
        "p50_ms": round(float(np.percentile(values, 50)), 1),
        "p99_ms": round(float(np.percentile(values, 99)), 1),
        "mean_ms": round(float(values.mean()), 1),
        "max_ms": round(float(values.max()), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    rng = random.Random(2026)
    plan = rng.choices(list(MIX), weights=list(MIX.values()), k=args.requests)

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        scene, face_ids, people = _prepare(folder, args.clients)
        scene_bytes = scene.read_bytes()
        with served(folder / "ws") as base:
            results = _run(base, plan, args.clients, scene_bytes, face_ids, people)
            figures, data = _check(base, results, args, face_ids, people)
    write_result("api_load", figures, data)
    print(figures)


def _run(
    base: str,
    plan: list[str],
    clients: int,
    scene: bytes,
    face_ids: list[int],
    people: list[str],
) -> dict[str, Any]:
    queue = list(enumerate(plan))
    lock = threading.Lock()
    latencies: dict[str, list[float]] = {kind: [] for kind in MIX}
    errors: list[str] = []
    decided: list[tuple[int, str]] = []  # (decision id, reviewer)
    checked: list[int] = []

    def client(n: int) -> None:
        name = f"client{n:02d}"
        with httpx.Client(base_url=base, timeout=300) as http:
            token = http.post("/api/token", data={"username": name, "password": PASSWORD}).json()[
                "access_token"
            ]
            http.headers["Authorization"] = f"Bearer {token}"
            local = random.Random(n)
            while True:
                with lock:
                    if not queue:
                        return
                    index, kind = queue.pop(0)
                    others = [d for d, who in decided if who != name]
                if kind == "check" and not others:
                    kind = "list"
                started = time.perf_counter()
                if kind == "search":
                    response = http.post("/api/search", files={"file": ("scene.jpg", scene)})
                    expected = 200
                elif kind == "list":
                    response = http.get(LISTINGS[index % len(LISTINGS)])
                    expected = 200
                elif kind == "decide":
                    response = http.post(
                        "/api/decisions",
                        json={"target": str(local.choice(face_ids)),
                              "person": local.choice(people),
                              "verdict": local.choice(["confirm", "reject", "inconclusive"]),
                              "note": f"request {index}", "case": "demo"},
                    )  # fmt: skip
                    expected = 201
                else:
                    response = http.post(
                        f"/api/decisions/{local.choice(others)}/checks",
                        json={"outcome": local.choice(["verified", "disputed"])},
                    )
                    expected = 201
                elapsed = (time.perf_counter() - started) * 1000
                with lock:
                    latencies[kind].append(elapsed)
                    if response.status_code != expected:
                        errors.append(f"{kind} {response.status_code} {response.text[:200]}")
                    elif kind == "decide":
                        decided.append((response.json()["id"], name))
                    elif kind == "check":
                        checked.append(response.json()["checks"][-1]["id"])

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    return {
        "latencies": latencies,
        "errors": errors,
        "decided": decided,
        "checked": checked,
        "wall": wall,
    }


def _check(
    base: str, results: dict[str, Any], args: argparse.Namespace, face_ids: list[int],
    people: list[str],
) -> tuple[dict[str, Any], dict[str, Any]]:  # fmt: skip
    """The figures, after reading back what the server stored and audited."""
    with httpx.Client(base_url=base, timeout=300) as http:
        token = http.post("/api/token", data={"username": "admin", "password": PASSWORD}).json()[
            "access_token"
        ]
        http.headers["Authorization"] = f"Bearer {token}"
        stored = http.get("/api/decisions").json()
        audit: list[dict[str, Any]] = []
        while True:
            after = audit[-1]["seq"] if audit else 0
            page = http.get("/api/audit", params={"after": after, "limit": 5000}).json()
            if not page:
                break
            audit += page
        verified = http.get("/api/audit/verify").json()
    acknowledged = {d for d, _ in results["decided"]}
    stored_ids = {d["id"] for d in stored}
    stored_checks = {c["id"] for d in stored for c in d["checks"]}
    audited_decisions = {e["objects"]["decision"] for e in audit if e["action"] == "review.decide"}
    audited_checks = {e["objects"]["check"] for e in audit if e["action"] == "review.check"}
    searches = sum(1 for e in audit if e["action"] == "search")
    all_ms = [ms for values in results["latencies"].values() for ms in values]
    figures = {
        "requests": len(all_ms),
        "clients": args.clients,
        "errors": len(results["errors"]),
        "wall_seconds": round(results["wall"], 1),
        "requests_per_second": round(len(all_ms) / results["wall"], 1),
        "overall": _percentiles(all_ms),
        "by_kind": {k: _percentiles(v) for k, v in results["latencies"].items() if v},
        "decisions_acknowledged": len(acknowledged),
        "decisions_lost": len(acknowledged - stored_ids),
        "decisions_unaudited": len(acknowledged - audited_decisions),
        "checks_acknowledged": len(results["checked"]),
        "checks_lost": len(set(results["checked"]) - stored_checks),
        "checks_unaudited": len(set(results["checked"]) - audited_checks),
        "searches_audited": searches,
        "audit_entries": verified["entries"],
        "audit_chain_ok": verified["ok"],
    }
    data = {
        "server": "facesift serve (uvicorn, one process) on 127.0.0.1",
        "mix": MIX,
        "listings": LISTINGS,
        "case": "demo (make demo's photos: 2 gallery people, the case's scanned photos)",
        "case_faces": len(face_ids),
        "gallery_people": len(people),
        "first_errors": results["errors"][:10],
    }
    return figures, data


if __name__ == "__main__":
    main()
