"""Test doubles for workflows built on backprose: scripted and replayed models, and a fake HTTP server.

Users test their own workflows with these exactly as backprose tests itself.
"""

from backprose.llm.scripted import Recorder, Replay, Scripted, replay_key
from backprose.testing_server import FakeOpenAIServer, completion_payload, echo_reply

__all__ = ["FakeOpenAIServer", "Recorder", "Replay", "Scripted", "completion_payload", "echo_reply",
           "replay_key"]
