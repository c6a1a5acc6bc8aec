"""Builders that use a teacher and a CROSS-Eval judge: safety SFT and DPO preference pairs.

Safety SFT: for each scenario (a norm and a scene that breaks it) the teacher writes the culturally
grounded answer; the judge keeps it only when it scores 1 on awareness, education and helpfulness
and 0 on violation. DPO: the chosen answer must pass that same test and the rejected answer must be
judged a violation (1), whether it comes from a teacher told to ignore cultural context or from a
CROSS-format run of the model being tuned (its stored generations and verdicts).

A teacher failure, a refusal, a truncated answer or a judge verdict that is not `ok` rejects the
candidate with a reason; the card counts them. When nothing survives, the build fails with the
reasons and leaves no folder behind.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from crosseval.align.builders import BuildOptions, new_card, record_leak
from crosseval.align.dataset import DatasetCard, DatasetWriter, SourceFile, count_by, read_card
from crosseval.align.errors import AlignError
from crosseval.align.examples import DpoExample, SftExample, assistant_message, user_message
from crosseval.align.images import image_suffix, prepare_image_file
from crosseval.align.norms import NormRecord
from crosseval.align.prompts import grounded_messages, looks_like_refusal, unconsidered_messages
from crosseval.align.records_io import file_sha256
from crosseval.data.prepared_image import PreparedImage
from crosseval.data.records import Sample
from crosseval.engine.retry import RequestFailed, RetryPolicy
from crosseval.engine.scheduler import JobContext, run_jobs
from crosseval.engine.store import STORE_FILENAME, RunStore, VerdictRecord
from crosseval.judge.protocols import JudgeInput, JudgeSettings, Verdict, judge_one
from crosseval.models.types import GenerationParams, GenerationRequest, Message, ModelBackend
from crosseval.vocabulary import SAFE_SCORES, UNSAFE_SCORES, Dimension, meets

MAX_LISTED_REJECTIONS = 200


@dataclass(frozen=True)
class Scenario:
    """One situation to answer: what the user says, the norm at stake, and the image they show (if any)."""

    id: str
    prompt: str
    norm: str
    country: str
    item: str | None
    image_path: Path | None = None
    image_url: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


def scenarios_from_norms(records: Sequence[NormRecord]) -> list[Scenario]:
    return [
        Scenario(
            id=r.id,
            prompt=r.user_prompt,
            norm=r.norm,
            country=r.country,
            item=r.item,
            image_path=r.image,
            meta={"country": r.country, "item": r.item, "source": r.source, "line": r.line},
        )
        for r in records
    ]


@dataclass
class GroundingModels:
    """The models of a grounded build and how to call them."""

    judge: ModelBackend
    settings: JudgeSettings
    teacher: ModelBackend | None = None
    teacher_params: GenerationParams = field(default_factory=GenerationParams)
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    max_connections: int = 8
    show_progress: bool = False

    def identities(self) -> dict[str, dict[str, Any]]:
        out = {"judge": dict(self.judge.identity) | {"protocol": self.settings.protocol}}
        if self.teacher is not None:
            out["teacher"] = dict(self.teacher.identity)
        return out


@dataclass
class _Outcome:
    texts: dict[str, str] = field(default_factory=dict)
    reason: str | None = None
    detail: str = ""

    def rejected_as(self, side: str) -> _Outcome:
        """The same rejection, its reason naming the side of a pair it hit (`chosen:...`)."""
        return _Outcome(reason=f"{side}:{self.reason}", detail=self.detail)


def judge_problem(verdicts: Mapping[Dimension, Verdict], target: Mapping[Dimension, int]) -> str | None:
    """None when every targeted dimension has an `ok` verdict with the wanted score, else why not."""
    for dimension, wanted in target.items():
        verdict = verdicts[dimension]
        if verdict.status != "ok":
            return f"judge_{verdict.status}:{dimension}"
        if verdict.score != wanted:
            return f"judged_{dimension}={verdict.score}"
    return None


async def _teach(
    ctx: JobContext, models: GroundingModels, messages: list[Message]
) -> tuple[str | None, str, str]:
    """(answer, reason, detail): the answer, or None with why the teacher gave none."""
    assert models.teacher is not None
    try:
        result, _ = await ctx.call(models.teacher, GenerationRequest(tuple(messages), models.teacher_params))
    except RequestFailed as failure:
        reason = (
            "teacher_refused"
            if failure.error.kind == "content_filter"
            else f"teacher_error:{failure.error.kind}"
        )
        return None, reason, str(failure)
    if result.finish_reason == "length":
        return None, "teacher_truncated", "the answer hit the token limit"
    if looks_like_refusal(result.text):
        return None, "teacher_refused", result.text.strip()[:200]
    return result.text.strip(), "", ""


def _grounded_prompt(scenario: Scenario, image: PreparedImage | None) -> list[Message]:
    return grounded_messages(
        prompt=scenario.prompt,
        norm=scenario.norm,
        country=scenario.country,
        item=scenario.item or "",
        image=image,
    )


async def _answer_passing(
    ctx: JobContext,
    models: GroundingModels,
    scenario: Scenario,
    image: PreparedImage | None,
    messages: list[Message],
    target: Mapping[Dimension, int],
) -> _Outcome:
    """The teacher's answer to `messages` (in `texts["answer"]`), kept only when the judge scores it `target`."""
    answer, reason, detail = await _teach(ctx, models, messages)
    if answer is None:
        return _Outcome(reason=reason, detail=detail)
    problem = await _verify(ctx, models, scenario, image, answer, target)
    if problem is not None:
        return _Outcome(reason=problem, detail=answer[:200])
    return _Outcome(texts={"answer": answer})


async def _safe_answer(
    ctx: JobContext, models: GroundingModels, scenario: Scenario, image: PreparedImage | None
) -> _Outcome:
    """A culturally grounded answer from the teacher that the judge scores safe on all four dimensions."""
    return await _answer_passing(ctx, models, scenario, image, _grounded_prompt(scenario, image), SAFE_SCORES)


async def _verify(
    ctx: JobContext,
    models: GroundingModels,
    scenario: Scenario,
    image: PreparedImage | None,
    answer: str,
    target: Mapping[Dimension, int],
) -> str | None:
    item = JudgeInput(query=scenario.prompt, norm=scenario.norm, response=answer, image=image)
    verdicts = await judge_one(ctx, models.judge, item, models.settings, dimensions=tuple(target))
    return judge_problem(verdicts, target)


class _Build:
    """Shared bookkeeping of one grounded build: leakage, images, outcomes, rejection counts."""

    def __init__(
        self, scenarios: Sequence[Scenario], options: BuildOptions, card: DatasetCard, writer: DatasetWriter
    ):
        self.options = options
        self.card = card
        self.writer = writer
        self.kept: list[Scenario] = []
        self.images: dict[str, tuple[PreparedImage, str]] = {}
        card.settings["image_options"] = options.image_options.identity()
        for scenario in scenarios:
            image_checks: list[tuple[str | None, str | None]] = [(None, scenario.image_url)]
            if scenario.image_path is not None:
                prepared = prepare_image_file(scenario.image_path, options.image_options)
                relative, _ = writer.add_image_bytes(prepared.data, image_suffix(prepared))
                self.images[scenario.id] = (prepared, relative)
                # The guard knows CROSS images by the sha256 of their files; preparation may change the bytes.
                image_checks = [
                    (file_sha256(scenario.image_path), scenario.image_url),
                    (prepared.sha256, None),
                ]
            if options.guard is not None:
                hit = options.guard.check({"norm": scenario.norm, "query": scenario.prompt}, image_checks)
                if hit is not None:
                    record_leak(card.leakage, scenario.id, hit)
                    continue
            self.kept.append(scenario)
        self.outcomes: dict[str, _Outcome] = {}

    def image(self, scenario: Scenario) -> PreparedImage | None:
        found = self.images.get(scenario.id)
        return found[0] if found else None

    def image_refs(self, scenario: Scenario) -> list[str]:
        found = self.images.get(scenario.id)
        if found is not None:
            return [found[1]]
        return [scenario.image_url] if scenario.image_url else []

    async def run(self, job_for: Any, models: GroundingModels | None, label: str) -> None:
        def make(scenario: Scenario) -> Any:
            async def job(ctx: JobContext) -> str:
                outcome = await job_for(ctx, scenario)
                self.outcomes[scenario.id] = outcome
                return "ok" if outcome.reason is None else "rejected"

            return job

        summary = await run_jobs(
            [make(s) for s in self.kept],
            max_connections=models.max_connections if models is not None else 8,
            policy=models.policy if models is not None else RetryPolicy(),
            label=label,
            show_progress=models.show_progress if models is not None else False,
        )
        for scenario in self.kept:
            if scenario.id not in self.outcomes:
                message = summary.crash_messages[0] if summary.crash_messages else "unknown"
                self.outcomes[scenario.id] = _Outcome(reason="crashed", detail=message)

    def passed(self) -> list[tuple[Scenario, _Outcome]]:
        """The kept scenarios whose job succeeded, in input order, with their outcomes."""
        return [(s, self.outcomes[s.id]) for s in self.kept if self.outcomes[s.id].reason is None]

    def record_rejections(self) -> None:
        reasons: Counter[str] = Counter()
        for scenario in self.kept:
            outcome = self.outcomes[scenario.id]
            if outcome.reason is None:
                continue
            reasons[outcome.reason] += 1
            if len(self.card.rejected.items) < MAX_LISTED_REJECTIONS:
                self.card.rejected.items.append(
                    {"id": scenario.id, "reason": outcome.reason, "detail": outcome.detail[:300]}
                )
        self.card.rejected.total = sum(reasons.values())
        self.card.rejected.by_reason = dict(reasons.most_common())

    def fail_if_empty(self, what: str) -> None:
        if self.writer.examples:
            return
        total = len(self.kept) + self.card.leakage.removed
        if total and not self.kept:
            raise AlignError(f"all {total} items overlap the CROSS evaluation set: nothing left to {what}")
        reasons = self.card.rejected.by_reason
        if reasons and all(
            r.startswith(("teacher_error", "teacher_refused", "teacher_truncated")) for r in reasons
        ):
            first = next(o for o in self.outcomes.values() if o.reason)
            raise AlignError(
                f"the teacher gave no usable answer for any of the {len(self.kept)} items "
                f"({_describe(reasons)}); first: {first.detail}"
            )
        raise AlignError(
            f"no candidate passed the judge: {self.card.rejected.total} of {len(self.kept)} rejected "
            f"({_describe(reasons)}); nothing was written"
        )


def _new_card(
    kind: Literal["sft", "dpo"],
    builder: str,
    options: BuildOptions,
    sources: list[SourceFile],
    models: GroundingModels | None,
    settings: dict[str, Any],
) -> DatasetCard:
    """The card of a grounded build: which models wrote and judged it, and what it kept."""
    card = new_card(kind, builder, options, sources)
    card.models = models.identities() if models is not None else {}
    card.settings = settings
    return card


def _describe(reasons: Mapping[str, int]) -> str:
    return ", ".join(f"{reason}: {count}" for reason, count in reasons.items())


async def build_safety_sft(
    scenarios: Sequence[Scenario], options: BuildOptions, models: GroundingModels, sources: list[SourceFile]
) -> DatasetCard:
    """Culturally grounded SFT answers from a teacher, kept only when the judge scores them safe on all four."""
    if models.teacher is None:
        raise AlignError("safety SFT needs a teacher model (--teacher)")
    card = _new_card("sft", "safety", options, sources, models, {"keep_when": SAFE_SCORES})
    with DatasetWriter(options.out_dir, overwrite=options.overwrite) as writer:
        build = _Build(scenarios, options, card, writer)

        async def job(ctx: JobContext, scenario: Scenario) -> _Outcome:
            return await _safe_answer(ctx, models, scenario, build.image(scenario))

        await build.run(job, models, "safety SFT")
        build.record_rejections()
        for scenario, outcome in build.passed():
            images = build.image_refs(scenario)
            writer.add(
                SftExample(
                    id=scenario.id,
                    messages=[
                        user_message(scenario.prompt, images=len(images)),
                        assistant_message(outcome.texts["answer"]),
                    ],
                    images=images,
                    meta=scenario.meta,
                )
            )
        build.fail_if_empty("write")
        card.counts = {"country": count_by([s.country for s, _ in build.passed()])}
        writer.finish(card)
    return read_card(options.out_dir)


async def build_dpo_from_teacher(
    scenarios: Sequence[Scenario], options: BuildOptions, models: GroundingModels, sources: list[SourceFile]
) -> DatasetCard:
    """Pairs from one teacher asked twice: with cultural grounding (chosen) and without it (rejected)."""
    if models.teacher is None:
        raise AlignError("DPO pairs from norms need a teacher model (--teacher)")
    settings = {"chosen_when": SAFE_SCORES, "rejected_when": UNSAFE_SCORES}
    card = _new_card("dpo", "dpo-teacher", options, sources, models, settings)
    with DatasetWriter(options.out_dir, overwrite=options.overwrite) as writer:
        build = _Build(scenarios, options, card, writer)

        async def job(ctx: JobContext, scenario: Scenario) -> _Outcome:
            image = build.image(scenario)
            chosen = await _safe_answer(ctx, models, scenario, image)
            if chosen.reason is not None:
                return chosen.rejected_as("chosen")
            unconsidered = unconsidered_messages(prompt=scenario.prompt, image=image)
            rejected = await _answer_passing(ctx, models, scenario, image, unconsidered, UNSAFE_SCORES)
            if rejected.reason is not None:
                return rejected.rejected_as("rejected")
            return _Outcome(texts={"chosen": chosen.texts["answer"], "rejected": rejected.texts["answer"]})

        await build.run(job, models, "DPO pairs")
        build.record_rejections()
        for scenario, outcome in build.passed():
            writer.add(_pair(scenario, build.image_refs(scenario), outcome.texts, scenario.meta))
        build.fail_if_empty("pair")
        card.counts = {"country": count_by([e.meta.get("country") for e in writer.examples])}
        writer.finish(card)
    return read_card(options.out_dir)


def _pair(
    scenario: Scenario, images: list[str], texts: Mapping[str, str], meta: dict[str, Any]
) -> DpoExample:
    return DpoExample(
        id=scenario.id,
        prompt=[user_message(scenario.prompt, images=len(images))],
        chosen=[assistant_message(texts["chosen"])],
        rejected=[assistant_message(texts["rejected"])],
        images=images,
        meta=meta,
    )


def _scenario_from_sample(sample: Sample) -> Scenario:
    local = Path(sample.image.local_path) if sample.image.local_path else None
    return Scenario(
        id=sample.id,
        prompt=sample.prompt_text,
        norm=sample.norm,
        country=sample.country,
        item=sample.item,
        image_path=local if local is not None and local.is_file() else None,
        image_url=sample.image.url,
        meta={"country": sample.country, "sample_id": sample.id, "base_id": sample.base_id},
    )


def _classify(verdicts: list[VerdictRecord]) -> str:
    """`safe`, `unsafe` or `unclear` from one generation's stored verdicts."""
    scores = {v.dimension: v.score for v in verdicts if v.status == "ok"}
    if meets(scores, UNSAFE_SCORES):
        return "unsafe"
    if meets(scores, SAFE_SCORES):
        return "safe"
    return "unclear"


async def build_dpo_from_run(
    run_dir: Path, options: BuildOptions, models: GroundingModels | None, *, judge_config: str | None = None
) -> DatasetCard:
    """Pairs from a run of the model being tuned: its judged-unsafe answer is `rejected`; `chosen` is its own
    judged-safe answer to the same item, or else a teacher's grounded answer that the judge passes.

    The run's items go through the leakage guard like any other: pairs cannot come from CROSS itself,
    so use a run on your own items in the CROSS schema.
    """
    if not RunStore.exists(run_dir):
        raise AlignError(f"{run_dir}: not a run directory (no run.sqlite)")
    with RunStore.open_for_reading(run_dir) as store:
        samples = store.samples()
        configs = store.judge_configs()
        if not configs:
            raise AlignError(
                f"{run_dir}: the run has no verdicts: judge it first (crosseval judge {run_dir})"
            )
        config = judge_config or configs[-1]
        if config not in configs:
            raise AlignError(
                f"{run_dir}: no verdicts for judge config {config!r} (have: {', '.join(configs)})"
            )
        generations = {g.key: g for g in store.generations("ok")}
        verdicts_by_generation: dict[str, list[VerdictRecord]] = {}
        for verdict in store.verdicts(config):
            verdicts_by_generation.setdefault(verdict.generation_key, []).append(verdict)
    by_sample: dict[str, dict[str, list[str]]] = {}
    for key, generation in generations.items():
        label = _classify(verdicts_by_generation.get(key, []))
        by_sample.setdefault(generation.sample_id, {}).setdefault(label, []).append(key)
    store_file = run_dir / STORE_FILENAME
    sources = [SourceFile(path=str(store_file), sha256=file_sha256(store_file), records=len(generations))]
    settings = {"judge_config": config, "chosen_when": SAFE_SCORES, "rejected_when": UNSAFE_SCORES}
    card = _new_card("dpo", "dpo-run", options, sources, models, settings)
    scenarios = [_scenario_from_sample(s) for s in samples if "unsafe" in by_sample.get(s.id, {})]
    skipped = len(samples) - len(scenarios)
    with DatasetWriter(options.out_dir, overwrite=options.overwrite) as writer:
        build = _Build(scenarios, options, card, writer)

        async def job(ctx: JobContext, scenario: Scenario) -> _Outcome:
            labels = by_sample[scenario.id]
            rejected_key = sorted(labels["unsafe"], key=lambda k: generations[k].round)[0]
            rejected = generations[rejected_key].response or ""
            if labels.get("safe"):
                chosen_key = sorted(labels["safe"], key=lambda k: generations[k].round)[0]
                return _Outcome(
                    texts={
                        "chosen": generations[chosen_key].response or "",
                        "rejected": rejected,
                        "chosen_from": chosen_key,
                        "rejected_from": rejected_key,
                    }
                )
            if models is None or models.teacher is None:
                return _Outcome(
                    reason="no_safe_answer", detail="no judged-safe answer in the run and no teacher"
                )
            chosen = await _safe_answer(ctx, models, scenario, build.image(scenario))
            if chosen.reason is not None:
                return chosen.rejected_as("chosen")
            return _Outcome(
                texts={
                    "chosen": chosen.texts["answer"],
                    "rejected": rejected,
                    "chosen_from": "teacher",
                    "rejected_from": rejected_key,
                }
            )

        await build.run(job, models, "DPO pairs")
        build.record_rejections()
        for scenario, outcome in build.passed():
            origins = {side: outcome.texts[side] for side in ("chosen_from", "rejected_from")}
            writer.add(_pair(scenario, build.image_refs(scenario), outcome.texts, scenario.meta | origins))
        if not scenarios:
            raise AlignError(f"{run_dir}: no generation in the run was judged a violation: no pairs to build")
        build.fail_if_empty("pair")
        card.counts = {
            "country": count_by([e.meta.get("country") for e in writer.examples]),
            "chosen_from": count_by(
                ["teacher" if e.meta["chosen_from"] == "teacher" else "run" for e in writer.examples]
            ),
        }
        card.settings["items_without_unsafe_answer"] = skipped
        writer.finish(card)
    return read_card(options.out_dir)
