"""The command line against the local server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from plexus_async.cli import app
from plexus_async.server import LocalPlexusServer

runner = CliRunner()


@pytest.fixture
def env(server: LocalPlexusServer, api_key: str) -> dict[str, str]:
    return {"PLEXUS_API_URL": server.url, "PLEXUS_API_KEY": api_key}


def row(n: int, **extra: object) -> dict[str, object]:
    return {
        "value": "Yes",
        "confidence": 0.8,
        "itemId": f"item-{n}",
        "accountId": "acct",
        "scorecardId": "card",
        "scoreId": "score",
        "evaluationId": "eval-cli",
        **extra,
    }


def test_send_jsonl_reports_bad_rows_and_sends_the_good_ones(
    env: dict[str, str], server: LocalPlexusServer, tmp_path: Path
) -> None:
    lines = [json.dumps(row(n)) for n in range(5)]
    lines.insert(2, json.dumps(row(9, confidence=3)))
    lines.insert(4, "{not json")
    source = tmp_path / "results.jsonl"
    source.write_text("\n".join(lines) + "\n")
    rejects = tmp_path / "rejects.jsonl"

    outcome = runner.invoke(
        app,
        [
            "send",
            str(source),
            "--rejects",
            str(rejects),
            "--dead-letters",
            str(tmp_path / "dead.jsonl"),
        ],
        env=env,
    )

    assert outcome.exit_code == 1
    assert "line 3: invalid score result: confidence" in outcome.output
    assert "line 5: not valid JSON" in outcome.output
    assert "committed 5, failed 0" in outcome.output
    assert server.store.count() == 5
    rejected = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert [r["line"] for r in rejected] == [3, 5]


def test_send_csv_reads_types_and_reports_bad_rows(
    env: dict[str, str], server: LocalPlexusServer, tmp_path: Path
) -> None:
    source = tmp_path / "results.csv"
    source.write_text(
        "value,confidence,itemId,accountId,scorecardId,scoreId,metadata,correct\n"
        'Yes,0.9,i1,acct,card,score,"{""k"": 1}",true\n'
        "No,abc,i3,acct,card,score,,\n"
        "No,0.2,i4,acct,card,score,,,extra\n"
        "No,0.2,i5,acct,card,score,{not json,\n"
        "No,0.2,i2,acct,card,score,,\n"
    )
    outcome = runner.invoke(
        app,
        [
            "send",
            str(source),
            "--rejects",
            str(tmp_path / "r.jsonl"),
            "--dead-letters",
            str(tmp_path / "d.jsonl"),
        ],
        env=env,
    )
    assert outcome.exit_code == 1, outcome.output
    assert "line 3: confidence: cannot read 'abc'" in outcome.output
    assert "line 4: the row has more cells" in outcome.output
    assert "line 5: metadata: cannot read" in outcome.output
    assert "committed 2, failed 0, rejected 3" in outcome.output
    stored = {r["itemId"]: r for r in server.store.all()}
    assert sorted(stored) == ["i1", "i2"]
    assert stored["i1"]["metadata"] == '{"k":1}' and stored["i1"]["correct"] is True
    assert stored["i2"]["confidence"] == 0.2


def test_get_and_list(
    env: dict[str, str], server: LocalPlexusServer, tmp_path: Path
) -> None:
    source = tmp_path / "results.jsonl"
    source.write_text("\n".join(json.dumps(row(n)) for n in range(3)) + "\n")
    runner.invoke(
        app,
        [
            "send",
            str(source),
            "--rejects",
            str(tmp_path / "r.jsonl"),
            "--dead-letters",
            str(tmp_path / "d.jsonl"),
        ],
        env=env,
    )
    id = server.store.ids()[0]

    got = runner.invoke(app, ["get", id], env=env)
    assert got.exit_code == 0 and json.loads(got.output)["id"] == id

    listed = runner.invoke(
        app, ["list", "--evaluation-id", "eval-cli", "--json"], env=env
    )
    assert listed.exit_code == 0
    assert sorted(
        json.loads(line)["id"] for line in listed.output.splitlines()
    ) == sorted(server.store.ids())

    table = runner.invoke(app, ["list", "--item-id", "item-1"], env=env)
    assert table.exit_code == 0 and "1 result(s)" in table.output

    missing = runner.invoke(app, ["get", "no-such-id"], env=env)
    assert missing.exit_code == 1


def test_missing_configuration_is_a_clear_error(tmp_path: Path) -> None:
    outcome = runner.invoke(
        app, ["get", "x"], env={"PLEXUS_API_URL": "", "PLEXUS_API_KEY": ""}
    )
    assert outcome.exit_code == 2
    assert "PLEXUS_API_URL" in outcome.output


@pytest.mark.parametrize("command", ["serve", "demo", "send", "replay", "get", "list"])
def test_every_command_documents_its_options(command: str) -> None:
    outcome = runner.invoke(app, [command, "--help"])
    assert outcome.exit_code == 0
    assert "--help" in outcome.output


def test_demo_runs_against_a_configured_api_with_the_given_ids(
    env: dict[str, str], server: LocalPlexusServer
) -> None:
    outcome = runner.invoke(
        app,
        [
            "demo",
            "--limit",
            "40",
            "--account-id",
            "acct-real",
            "--scorecard-id",
            "card-real",
            "--score-id",
            "score-real",
        ],
        env=env,
    )
    assert outcome.exit_code == 0, outcome.output
    assert "running against the real API" in outcome.output
    assert "verification: OK" in outcome.output
    records = server.store.all()
    assert len(records) == 40
    assert {(r["accountId"], r["scorecardId"], r["scoreId"]) for r in records} == {
        ("acct-real", "card-real", "score-real")
    }
    # Only operations the real API has: no batchCreateScoreResults.
    fields = {f for r in server.requests.snapshot() for f in r.fields}
    assert "batchCreateScoreResults" not in fields
    assert fields <= {
        "createScoreResult",
        "updateScoreResult",
        "getScoreResult",
        "listScoreResultByEvaluationId",
    }
