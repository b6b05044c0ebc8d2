"""Shared by the OpenAI client's tests against `FakeOpenAIServer`: a fast-retrying client and one call."""

import asyncio

from backprose.llm import OpenAI

FAST = {"retry_initial": 0.01, "retry_max_wait": 0.05}


def client(server, **kw):
    return OpenAI(model="fake-model", base_url=server.base_url, **{**FAST, **kw})


def call(llm, how, text="x"):
    if how == "sync":
        return llm.complete(text)
    return asyncio.run(llm.acomplete(text))
