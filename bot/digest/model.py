"""TL;DRs from a language model, for operators who configure one: any OpenAI-compatible chat
completions API (OpenAI, a vLLM or llama.cpp server, Ollama's ``/v1``).

Off by default. Bounded: every request shares one deadline (``summaries.timeout``), so an
endpoint that is down, slow or wrong costs the edition at most that long and never fails it;
whatever is not back by then keeps paperboy's own key sentences. What comes back is checked
(text, one paragraph, not longer than an abstract's worth) before it is used, and is kept with
the paper so that each paper is asked about once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

import httpx

log = logging.getLogger(__name__)

PROMPT = ("Summarise this research paper for a researcher skimming a daily digest: one or two plain "
          "sentences, at most 40 words, no preamble, no markdown. Use only what the abstract says.")
MAX_CHARS = 400
CONCURRENCY = 4


@dataclass(frozen=True, slots=True)
class ModelConfig:
    url: str
    """The API's base URL, ending in a slash (``…/v1/``)."""
    model: str
    api_key: str | None
    timeout: float
    """Seconds all requests together may take."""


def summarise(config: ModelConfig, papers: Sequence[tuple[str, str, str]],
              client: httpx.Client | None = None) -> dict[str, str]:
    """{key: summary} for those of ``papers`` (key, title, abstract) the model answered well
    within the deadline; failures are logged, never raised."""
    deadline = time.monotonic() + config.timeout
    done: dict[str, str] = {}
    failures: list[str] = []
    owned = client is None
    http = client or httpx.Client(headers={"Authorization": f"Bearer {config.api_key}"} if config.api_key else {})
    pool = ThreadPoolExecutor(max_workers=CONCURRENCY, thread_name_prefix="summaries")
    try:
        pending: dict[Future[str | None], str] = {
            pool.submit(_ask, http, config, title, abstract, deadline): key for key, title, abstract in papers}
        while pending:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            finished, _ = wait(pending, timeout=left, return_when=FIRST_COMPLETED)
            for future in finished:
                key = pending.pop(future)
                try:
                    text = future.result()
                except (httpx.HTTPError, ValueError) as exc:
                    failures.append(str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__)
                    continue
                if text:
                    done[key] = text
        if pending:
            failures.append(f"{len(pending)} not answered within {config.timeout:.0f} s")
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        if owned:
            http.close()
    if failures:
        log.warning("summaries: %d of %d papers keep their key sentences (%s)",
                    len(papers) - len(done), len(papers), "; ".join(dict.fromkeys(failures)))
    return done


def _ask(http: httpx.Client, config: ModelConfig, title: str, abstract: str, deadline: float) -> str | None:
    left = deadline - time.monotonic()
    if left <= 0:
        return None
    response = http.post(config.url + "chat/completions", timeout=httpx.Timeout(left), json={
        "model": config.model, "temperature": 0, "max_tokens": 120,
        "messages": [{"role": "system", "content": PROMPT},
                     {"role": "user", "content": f"Title: {title}\n\nAbstract: {abstract}"}],
    })
    response.raise_for_status()
    return _checked(response.json())


def _checked(answer: object) -> str | None:
    """The summary in a chat completion, as one line; ValueError when the answer is not one."""
    try:
        text = answer["choices"][0]["message"]["content"]  # type: ignore[index]
    except (KeyError, IndexError, TypeError):
        raise ValueError("the answer is not a chat completion") from None
    if not isinstance(text, str):
        raise ValueError("the answer's content is not text")
    line = " ".join(text.replace("**", "").split())
    if not line:
        return None
    if len(line) > MAX_CHARS:
        raise ValueError(f"the answer is {len(line)} characters long (at most {MAX_CHARS})")
    return line
