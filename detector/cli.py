"""The `detector` command: run, scan, evaluate, calibrate, devices, config."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

# The detector works on one thread. Before numpy loads: OpenBLAS would otherwise split the frontends' small
# matrix products over every core, and while another process held one, YAMNet's log-mel took 8 ms a patch
# instead of the 0.2 ms bench/run.py measures on one thread.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from . import config as config_mod  # noqa: E402
from .config import ConfigError  # noqa: E402

EXIT_CONFIG = 2  # bad configuration or arguments


def _load_config(args) -> config_mod.Config:
    path = args.config
    if path is None and config_mod.DEFAULT_PATH.is_file():
        path = config_mod.DEFAULT_PATH
    cfg = config_mod.load(path)
    if getattr(args, "model", None):
        cfg.model = args.model
    if getattr(args, "log_level", None):  # the command line wins over the config file
        cfg.log_level = args.log_level.lower()
    if getattr(args, "small_only", False):
        cfg.second_opinion.enabled = False
    return cfg


def _classifier(cfg):
    from .model import Classifier

    return Classifier(cfg.model_path())


def cmd_scan(args) -> int:
    from .scan import scan

    cfg = _load_config(args)
    return scan(cfg, _classifier(cfg), args.files, args.scores)


def cmd_evaluate(args) -> int:
    from .scan import ManifestError, evaluate

    cfg = _load_config(args)
    try:
        res = evaluate(
            cfg, _classifier(cfg), Path(args.manifest), Path(args.root) if args.root else None, Path(args.out)
        )
    except ManifestError as e:
        print(f"detector evaluate: {e}", file=sys.stderr)
        return 2
    if not res["clips"]:
        print(f"detector evaluate: no clip of {args.manifest} could be scored", file=sys.stderr)
        return 1
    for lab, m in res["labels"].items():
        print(
            f"{lab}: AUC {m['auc']:.3f}  recall {m['recall']:.3f}  FP rate {m['fpr']:.3f} "
            f"at threshold {m['threshold']:.3f} ({m['positives']} positives, {m['negatives']} negatives)"
        )
    print(f"report: {Path(args.out) / 'evaluation.md'}")
    return 1 if res["skipped"] else 0


def cmd_web(args) -> int:
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401

        from .web import serve
    except ImportError as e:
        print(f"detector web: {e.name} is not installed: pip install '.[web]'", file=sys.stderr)
        return 2
    return serve(_load_config(args), args.host, args.port)


def cmd_devices(args) -> int:
    from .audio import list_input_devices, supported_rates

    devs = list_input_devices()
    if not devs:
        print("no input devices found")
        return 1
    for d in devs:
        rates = supported_rates(d["index"])
        print(
            f"[{d['index']}] {d['name']}: {d['channels']} ch, default {d['default_rate']:.0f} Hz, "
            f"rates {', '.join(map(str, rates)) or 'none usable'}"
        )
    return 0


def cmd_config(args) -> int:
    cfg = _load_config(args)
    if args.action == "check":
        from .service import check

        for w in check(cfg):
            print(f"warning: {w}", file=sys.stderr)
        print(f"{args.config or 'defaults'}: OK")
    else:
        import yaml

        from .confirm import confirm_thresholds, load_second_opinion

        # what is in force, not what was left unset: the models' paths and the thresholds they bring
        d = config_mod.to_dict(cfg)
        clf = _classifier(cfg)
        second = load_second_opinion(cfg)
        policies = cfg.detection.policies(clf.thresholds_for(confirm_thresholds(cfg, clf, second)))
        d["model"] = str(clf.path)
        d["second_opinion"] |= {
            "model": str(second.path) if second else None,
            "labels": confirm_thresholds(cfg, clf, second),
        }
        d["detection"]["labels"] = {
            lab: {
                "on_threshold": p.on,
                "off_threshold": p.off,
                "min_hits": p.min_hits,
                "hold_s": p.hold_s,
                "smoothing": p.smoothing,
                "min_dbfs": p.min_dbfs,
            }
            for lab, p in policies.items()
        }
        print(yaml.safe_dump(d, sort_keys=False), end="")
    return 0


def cmd_run(args) -> int:
    from .service import run_service

    cfg = _load_config(args)
    return run_service(cfg, input_file=args.input, realtime=not args.fast, seconds=args.seconds)


def cmd_calibrate(args) -> int:
    from .calibrate import BUNDLED_POSITIVES, CalibrationRequest, calibrate

    cfg = _load_config(args)
    req = CalibrationRequest(
        seconds=args.seconds,
        device=args.device,
        input=Path(args.input) if args.input else None,
        out=Path(args.out) if args.out else None,
        positives=Path(args.positives) if args.positives else BUNDLED_POSITIVES,
        apply=args.apply,
        config=Path(args.config) if args.config else config_mod.DEFAULT_PATH,
        event_dbfs=dict(args.event_dbfs or []),
        keep_noise=not args.no_keep,
    )
    return calibrate(cfg, req)


def _since(text: str) -> float:
    """'90m', '12h', '7d' -> that long ago, in Unix seconds."""
    import time

    units = {"m": 60, "h": 3600, "d": 86400}
    try:
        return time.time() - float(text[:-1]) * units[text[-1]]
    except (KeyError, ValueError, IndexError):
        raise argparse.ArgumentTypeError(f"{text!r}: expected a number and m, h or d, e.g. 1d") from None


def _label_db(text: str) -> tuple[str, float]:
    """'bark=-22' -> ('bark', -22.0)."""
    label, sep, value = text.partition("=")
    try:
        if not (label and sep):
            raise ValueError
        return label, float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected LABEL=DB, e.g. bark=-22") from None


def cmd_events(args) -> int:
    import json
    import time

    from . import history

    cfg = _load_config(args)
    path = cfg.history_path()
    if not path.exists():
        print(f"no event history at {path} yet", file=sys.stderr)
        return 0
    db = history.connect(path)
    if args.purge:
        print(f"purged {history.purge(db)} event(s) from {path}")
        return 0
    for row in history.select(db, args.label, args.since):
        if args.json:
            print(json.dumps(row.as_dict()))
        else:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(row.start))
            length = f"{row.end - row.start:5.1f} s" if row.end is not None else "  open"
            confirm = f" confirm {row.confirm_score:.2f}" if row.confirm_score is not None else ""
            print(
                f"{row.id}  {when}  {row.label:<5} {length}  score {row.score:.2f}{confirm}  "
                f"{row.verdict or ''}".rstrip()
            )
    return 0


def cmd_mark(args) -> int:
    from . import history

    cfg = _load_config(args)
    verdict = {"false": "false_alarm", "true": "confirmed", "undo": None}[args.verdict]
    try:
        history.mark(history.connect(cfg.history_path()), args.id, verdict, "cli")
    except history.HistoryError as e:
        print(f"detector mark: {e}", file=sys.stderr)
        return 2
    print(f"{args.id}: {verdict or 'no verdict'}")
    return 0


def cmd_verifier(args) -> int:
    from . import history
    from .lessons import Teacher, describe, verifier_path
    from .verifier import Verifier

    cfg = _load_config(args)
    path = verifier_path(cfg)
    if args.action == "reset":
        path.unlink(missing_ok=True)
        print(f"{path}: removed; the verdicts stay in the history")
        return 0
    sha = history.file_sha256(cfg.model_path())
    if args.action == "fit":
        teacher = Teacher(cfg, sha)
        try:
            _, taught = teacher.fit()
        except history.HistoryError as e:
            print(f"detector verifier: {e}", file=sys.stderr)
            return 2
        again, lost = teacher.restaled
        if again or lost:
            print(
                f"{again + lost} verdict(s) were given under another model: {again} re-embedded from their clips, "
                f"{lost} without a clip: mark those sounds again to teach this model"
            )
        for t in taught:
            print(describe(t))
        print(f"saved {path}")
        return 0
    v = Verifier.load(path, sha)
    db = history.connect(cfg.history_path())
    for lab, n_false, n_right in db.execute(
        "SELECT label, COUNT(*) FILTER (WHERE verdict = 'false_alarm'), COUNT(*) FILTER (WHERE verdict = "
        "'confirmed') FROM events "
        "WHERE model_sha256 = ? GROUP BY label",
        (sha,),
    ):
        state = "on" if v is not None and lab in v.heads else "off"
        print(f"{lab}: verifier {state}; {n_false} marked false alarm(s), {n_right} marked right")
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="detector", description="Dog-bark and baby-cry detector")
    ap.add_argument("--config", "-c", help=f"YAML config (default {config_mod.DEFAULT_PATH} if it exists)")
    ap.add_argument("--model", help="a .tflite model with its .json sidecar (default: the bundled one)")
    ap.add_argument("--log-level", default=None, help="debug, info, warning, error")
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("run", help="listen and publish events (the daemon, in the foreground)")
    p.add_argument("--input", help="replay a recording through the full live path instead of the microphone")
    p.add_argument("--fast", action="store_true", help="with --input: as fast as possible, not in real time")
    p.add_argument("--seconds", type=float, help="stop after this much audio (default: run until stopped)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("scan", help="detect events in audio files (JSON lines)")
    p.add_argument("files", nargs="+")
    p.add_argument("--scores", action="store_true", help="also print every window's scores")
    p.add_argument("--small-only", action="store_true", help="the small model alone, without the second opinion")
    p.set_defaults(func=cmd_scan)

    p = sub.add_parser("evaluate", help="score a labelled manifest: ROC-AUC, recall, FP rate, per source")
    p.add_argument("--manifest", required=True, help="CSV with path,label,source columns (as shared/data)")
    p.add_argument("--root", help="folder the paths are relative to (default: the manifest's folder)")
    p.add_argument("--out", default="reports/evaluation", help="report folder")
    p.add_argument("--small-only", action="store_true", help="the small model alone, without the second opinion")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("calibrate", help="measure the room, count false alarms, suggest thresholds")
    p.add_argument("--seconds", type=float, default=300.0)
    p.add_argument("--device", help="input device name or index (default: the config's)")
    p.add_argument("--input", help="use an existing recording instead of the microphone")
    p.add_argument("--out", help="report folder (default: <state_dir>/calibration)")
    p.add_argument("--positives", help="folder of bark/ and cry/ clips to mix in (default: bundled)")
    p.add_argument("--apply", action="store_true", help="write the suggested thresholds into the config file")
    p.add_argument(
        "--event-dbfs",
        action="append",
        metavar="LABEL=DB",
        type=_label_db,
        help="typical level of an event in this room (default bark=-22, cry=-28)",
    )
    p.add_argument(
        "--no-keep",
        action="store_true",
        help="do not keep the microphone's recording for training (--input is never copied)",
    )
    p.add_argument("--small-only", action="store_true", help="the small model alone, without the second opinion")
    p.set_defaults(func=cmd_calibrate)

    p = sub.add_parser("events", help="the event history, oldest first")
    p.add_argument("--label", help="only this label's events")
    p.add_argument("--since", type=_since, help="only events since this long ago: 90m, 12h, 7d")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--purge", action="store_true", help="delete every stored event and verdict")
    p.set_defaults(func=cmd_events)

    p = sub.add_parser("mark", help="say whether an event was right: false (a false alarm) or true")
    p.add_argument("id", help="the event's id (detector events)")
    p.add_argument("verdict", choices=["false", "true", "undo"])
    p.set_defaults(func=cmd_mark)

    p = sub.add_parser("verifier", help="the per-home verifier taught by marked events: status, fit or reset")
    p.add_argument("action", choices=["status", "fit", "reset"])
    p.set_defaults(func=cmd_verifier)

    p = sub.add_parser("web", help="the review page: events, clips, verdicts, the live view (pip install .[web])")
    p.add_argument("--host", help="address to listen on (default: the config's web.host, 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default: the config's web.port, 8787)")
    p.set_defaults(func=cmd_web)

    sub.add_parser("devices", help="list input devices and their rates").set_defaults(func=cmd_devices)

    p = sub.add_parser("config", help="check or show the configuration")
    p.add_argument("action", choices=["check", "show"])
    p.set_defaults(func=cmd_config)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = (args.log_level or os.environ.get("BARKCRY_LOG_LEVEL") or "info").upper()
    logging.basicConfig(
        level=getattr(logging, level, logging.INFO),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from .audio import DeviceError
    from .audiofile import AudioFileError
    from .model import ModelError

    try:
        return args.func(args)
    except ConfigError as e:
        print(f"detector: config error: {e}", file=sys.stderr)
        return EXIT_CONFIG
    except ModelError as e:
        print(f"detector: model error: {e}", file=sys.stderr)
        return EXIT_CONFIG
    except DeviceError as e:
        print(f"detector: audio device error: {e}", file=sys.stderr)
        return EXIT_CONFIG
    except AudioFileError as e:  # run --input, calibrate --input (scan reports and skips its own)
        print(f"detector: {e}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as e:  # noqa: BLE001 - a bug still gets one line; the traceback is for --log-level debug
        logging.getLogger("detector").debug("unexpected error", exc_info=True)
        print(f"detector: unexpected error: {type(e).__name__}: {e} (--log-level debug shows where)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
