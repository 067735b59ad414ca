"""Example data for a first look: prompts with real history, a dataset and a finished offline run, in an empty project."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from promptvault import datasets, library, refs, runner, versioning
from promptvault.context import Context
from promptvault.errors import AlreadyExistsError
from promptvault.providers import OFFLINE_MODEL
from promptvault.run_spec import parse_spec

SUMMARIZE, CLASSIFY, DESCRIBE = "summarize-ticket", "classify-intent", "product-description"
DATASET = "support-tickets"
BRANCH, LABEL = "shorter", "production"
DEMO_CHECKS = [  # scored on the echo of each rendered prompt: they tell the two versions apart
    {"type": "length", "max": 200, "name": "under 200 characters"},
    {"type": "contains-any", "values": ["order", "refund", "password", "crash", "billing", "replacement"],
     "case_sensitive": False, "name": "names the issue"},
    {"type": "latency", "max_ms": 1000, "weight": 0},
]
REMOVE_HINT = ("The examples are ordinary data: archive the prompts in the Library, or start over with an empty "
               "data folder (stop the app, remove it, then `make run DEMO=0`).")

TICKETS = [
    ("Priya Natarajan", "My order #4821 was supposed to arrive Tuesday. Tracking has said 'label created' for five "
     "days. I need it for a trip on Saturday.", "Order #4821 has not shipped after five days; needed by Saturday.",
     ["shipping"]),
    ("Tom Becker", "I was charged twice for the Pro plan this month (two charges of $29 on the 3rd). Please refund "
     "one of them.", "Double charge for the Pro plan on the 3rd; wants one $29 charge refunded.", ["billing"]),
    ("Ana Souza", "The password reset e-mail never arrives. I checked spam. My login is ana.souza@example.org.",
     "Password reset e-mails do not arrive (not in spam).", ["account"]),
    ("Kenji Watanabe", "Since the last update the app crashes whenever I export a report to PDF. Android 14, "
     "Pixel 7.", "App crashes on PDF export since the last update (Android 14, Pixel 7).", ["product", "bug"]),
    ("Lena Fischer", "Can I switch from monthly to yearly billing without losing my saved projects?",
     "Asks whether switching to yearly billing keeps saved projects.", ["billing"]),
    ("Omar Haddad", "The blender arrived with a cracked jar. I'd like a replacement rather than a refund.",
     "Blender jar arrived cracked; wants a replacement, not a refund.", ["shipping", "damaged"]),
]


@dataclass(frozen=True)
class DemoSummary:
    """What the demo created: prompts (name -> versions), the dataset and the finished run."""

    prompts: dict[str, int]
    dataset: str
    cases: int
    run_id: int
    run_status: str
    run_cells: int


def existing(ctx: Context) -> list[str]:
    """What the project already holds that the demo would mix with, e.g. ["prompts: a, b", "datasets: d"]."""
    found = []
    prompts = [p.name for p in library.list_prompts(ctx, include_archived=True, limit=4)]
    names = [d.name for d in datasets.list_datasets(ctx)]
    for what, items in (("prompts", prompts), ("datasets", names)):
        if items:
            found.append(f"{what}: {', '.join(items[:3])}" + (", ..." if len(items) > 3 else ""))
    return found


def fill(ctx: Context, data_dir: Path | str) -> DemoSummary:
    """Fill an empty project with the examples and run one comparison on the offline model; refuse a used project."""
    found = existing(ctx)
    if found:
        raise AlreadyExistsError("the demo fills only an empty project; this one already has " + "; ".join(found))
    prompts = {SUMMARIZE: _summarize_ticket(ctx), CLASSIFY: _classify_intent(ctx), DESCRIBE: _product_description(ctx)}
    info = datasets.import_cases(ctx, DATASET, _tickets_jsonl(), f"{DATASET}.jsonl")
    run = _run(ctx, data_dir)
    return DemoSummary(prompts, info.name, info.cases, run.id, run.status, run.total_cells)


def _summarize_ticket(ctx: Context) -> int:
    """Three commits, a branch `shorter` merged back into main, and `production` moved from v2 to the merge."""
    library.create_prompt(ctx, SUMMARIZE, "One-line summaries of support tickets for the on-call engineer",
                          ["support", "summaries"])
    versioning.commit(ctx, SUMMARIZE, "Summarize this support ticket in one sentence:\n\n{{ ticket }}",
                      {"temperature": 0.2}, "First draft")
    versioning.commit(ctx, SUMMARIZE, (
        "You are a support lead. Summarize the ticket from {{ customer }} in one sentence\n"
        "for the on-call engineer. Name the product area.\n\nTicket:\n{{ ticket }}"
    ), {"temperature": 0.2}, "Address the on-call engineer; name the product area")
    refs.set_label(ctx, SUMMARIZE, LABEL, "2")
    refs.create_branch(ctx, SUMMARIZE, BRANCH)
    versioning.commit(ctx, SUMMARIZE, (
        "You are a support lead. Summarize the ticket from {{ customer }} in at most 15 words\n"
        "for the on-call engineer. Name the product area.\n\nTicket:\n{{ ticket }}"
    ), {"temperature": 0.2}, "At most 15 words", branch=BRANCH)
    versioning.commit(ctx, SUMMARIZE, versioning.show(ctx, SUMMARIZE).content,
                      {"temperature": 0, "max_tokens": 60}, "Deterministic, capped output")
    merged = versioning.merge(ctx, SUMMARIZE, BRANCH)
    refs.set_label(ctx, SUMMARIZE, LABEL, str(merged.number))
    return merged.number


def _classify_intent(ctx: Context) -> int:
    """A chat prompt with a system message asking for JSON, then a category added."""
    library.create_prompt(ctx, CLASSIFY, "Route tickets to a queue; answers JSON", ["support", "routing"])
    config = {"temperature": 0, "response_format": {"type": "json_object"}}
    system = ("You sort customer support tickets into one intent: {intents}.\n"
              'Reply with JSON only, like {{"intent": "billing", "confidence": 0.9}}.')
    for intents, message in (("shipping, billing, account, other", "First draft"),
                             ("shipping, billing, account, product, other", "Add a 'product' intent for bug reports")):
        messages = [{"role": "system", "content": system.format(intents=intents)},
                    {"role": "user", "content": "{{ ticket }}"}]
        version = versioning.commit(ctx, CLASSIFY, messages, config, message)
    return version.number


def _product_description(ctx: Context) -> int:
    """A plain text prompt with two variables and one revision."""
    library.create_prompt(ctx, DESCRIBE, "Short product copy for the shop", ["marketing"])
    first = "Write a product description for {{ product }}."
    second = ("Write a 50-word product description for {{ product }} aimed at {{ audience }}.\n"
              "Lead with the main benefit; no superlatives.")
    versioning.commit(ctx, DESCRIBE, first, {"temperature": 0.7}, "First draft")
    return versioning.commit(ctx, DESCRIBE, second, {"temperature": 0.7, "max_tokens": 120},
                             "Length, audience and tone").number


def _tickets_jsonl() -> bytes:
    """The support-tickets dataset as JSON lines: customer and ticket, a reference summary, intent tags."""
    lines = (json.dumps({"vars": {"customer": customer, "ticket": ticket}, "expected": expected, "tags": tags})
             for customer, ticket, expected, tags in TICKETS)
    return "\n".join(lines).encode()


def _run(ctx: Context, data_dir: Path | str):
    """Compare the first and the latest summarize-ticket on the offline model over the dataset, to the end."""
    spec = parse_spec({"prompt": SUMMARIZE, "versions": [1, "main"], "models": [OFFLINE_MODEL], "dataset": DATASET,
                       "checks": DEMO_CHECKS}, "demo run")
    started = runner.start(ctx, spec)
    return runner.run_to_end(ctx, started.id, Path(data_dir))
