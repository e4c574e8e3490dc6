"""``naestro pii scan|calibrate`` and ``naestro codec-keygen|codec-server``.

Registered on the main group by :func:`register`; the logic lives in naestro.pii,
naestro.pii.calibration, naestro.pii.schedule, naestro.codec and api.codec.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import IO, Any, NoReturn

import click

from naestro import codec, pii
from naestro.config.settings import Settings
from naestro.contracts import PiiCalibrationReport, PiiCalibrationRequest
from naestro.errors import NaestroError
from naestro.pii import calibration as pii_calibration


def _settings(ctx: click.Context) -> Settings:
    settings: Settings = ctx.obj["settings"]()
    return settings


def _echo_error(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


@click.group(name="pii")
def pii_group() -> None:
    """Find, redact and calibrate PII detection."""


@pii_group.command()
@click.argument("source", type=click.File("r", encoding="utf-8"), default="-")
@click.option("--redact", is_flag=True, help="Print the redacted text instead of findings.")
@click.pass_context
def scan(ctx: click.Context, source: IO[str], redact: bool) -> None:
    """Scan FILE (or - for stdin) and print one JSON line per finding:
    entity_type, start, end, score, detector (offsets in characters)."""
    settings = _settings(ctx).pii
    calibration = pii_calibration.load(settings.calibration_file)
    thresholds = {**(calibration.thresholds if calibration else {}), **settings.thresholds}
    text = source.read()
    try:
        found = pii.scan(
            text,
            entropy_high=settings.entropy_high,
            entropy_low=settings.entropy_low,
            thresholds=thresholds,
        )
    except NaestroError as exc:
        _echo_error(str(exc))
    if redact:
        click.echo(pii.redact(text, found).redacted, nl=False)
        return
    for f in found:
        click.echo(
            json.dumps(f.model_dump(include={"entity_type", "start", "end", "score", "detector"}))
        )


def _show_report(report: PiiCalibrationReport) -> None:
    click.echo(f"split {report.split}, entropy high/low {report.entropy_high}/{report.entropy_low}")
    raised = {d: t for d, t in report.thresholds.items() if t > 0}
    click.echo(f"thresholds above 0: {raised or 'none'}")
    click.echo(f"{'entity':<16}{'support':>8}{'precision':>11}{'recall':>8}{'f1':>7}")
    for e in report.test:
        click.echo(
            f"{e.entity_type:<16}{e.support:>8}{e.precision:>11.3f}{e.recall:>8.3f}{e.f1:>7.3f}"
        )
    click.echo(f"micro F1 {report.micro_f1:.3f}; written to {report.written_to}")


async def _schedule(settings: Settings, cron: str | None, request: PiiCalibrationRequest) -> str:
    from naestro.connect import connect
    from naestro.pii.schedule import ensure_schedule

    client = await connect()
    return await ensure_schedule(client, settings, cron, request)


@pii_group.command()
@click.option("--samples", type=click.IntRange(20, 200_000), default=None, help="Corpus size.")
@click.option("--seed", type=int, default=7, show_default=True)
@click.option(
    "--output",
    type=click.Path(dir_okay=False),
    default=None,
    help="Where to write (default: pii.calibration_file).",
)
@click.option("--schedule", is_flag=True, help="Create/update the Temporal schedule instead.")
@click.option("--cron", default=None, help="Schedule (UTC cron; default pii.calibration_schedule).")
@click.pass_context
def calibrate(
    ctx: click.Context,
    samples: int | None,
    seed: int,
    output: str | None,
    schedule: bool,
    cron: str | None,
) -> None:
    """Calibrate detector thresholds on a labelled corpus (40/35/25 train/validate/test)
    and write them, with the test scores, where the PII activity reads them."""
    settings = _settings(ctx)
    request = PiiCalibrationRequest(
        samples=samples or settings.pii.calibration_samples, seed=seed, output=output or ""
    )
    if schedule:
        try:
            sid = asyncio.run(_schedule(settings, cron, request))
        except NaestroError as exc:
            _echo_error(str(exc))
        click.echo(f"schedule {sid}: {cron or settings.pii.calibration_schedule} (UTC)")
        return
    target = output or settings.pii.calibration_file
    if not target:
        _echo_error("set pii.calibration_file in temporal.yaml, or pass --output")
    report = pii_calibration.calibrate(request.samples, request.seed)
    _show_report(pii_calibration.write(report, target))


@click.command(name="codec-keygen")
@click.option("--id", "key_id", default="k1", show_default=True, help="Key id (e.g. a date).")
def codec_keygen(key_id: str) -> None:
    """Print a new NAESTRO_CODEC_KEYS entry (id:base64 of 32 random bytes). To rotate,
    put it first: NAESTRO_CODEC_KEYS=new,old."""
    try:
        click.echo(codec.generate_key(key_id))
    except NaestroError as exc:
        _echo_error(str(exc))


@click.command(name="codec-server")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8081, show_default=True)
def codec_server(host: str, port: int) -> None:
    """Serve /codec/encode and /codec/decode for the Temporal UI (needs NAESTRO_CODEC_KEYS
    and NAESTRO_CODEC_TOKEN; CORS origins from NAESTRO_CODEC_CORS_ORIGINS)."""
    import uvicorn

    from api.codec import create_app

    try:
        app = create_app()
    except NaestroError as exc:
        _echo_error(str(exc))
    uvicorn.run(app, host=host, port=port, log_level="info")


def register(main: Any) -> None:
    for command in (pii_group, codec_keygen, codec_server):
        main.add_command(command)
