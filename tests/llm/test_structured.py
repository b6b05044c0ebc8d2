import asyncio
import json
import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backprose.errors import LLMFormatError, LLMServerError
from backprose.llm import OpenAI, Scripted, acomplete_json, complete_json
from backprose.llm.schema import validate
from backprose.llm.structured import extract_json, response_format
from backprose.testing import FakeOpenAIServer

SCHEMA = {
    "type": "object",
    "properties": {
        "answer": {"type": "string"},
        "score": {"type": "integer", "minimum": 0, "maximum": 10},
        "tags": {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}},
        "ok": {"type": "boolean"},
    },
    "required": ["answer", "score"],
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=10,
)
prose = st.text(alphabet=st.characters(blacklist_characters="{}[]`"), max_size=40)


@given(st.dictionaries(st.text(max_size=5), json_values, max_size=4), prose, prose)
def test_json_is_found_inside_prose(value, before, after):
    assert extract_json(f"{before}{json.dumps(value)}{after}") == value


@given(json_values, prose)
def test_json_is_found_inside_fences(value, before):
    assert extract_json(f"{before}\n```json\n{json.dumps(value)}\n```\nhope this helps") == value


def test_extract_json_explains_failure():
    with pytest.raises(ValueError, match="empty"):
        extract_json("  ")
    with pytest.raises(ValueError, match="no complete JSON"):
        extract_json('{"a": 1')


def test_validator_reports_every_problem_with_its_path():
    problems = validate({"score": 11, "tags": ["a", "c"], "ok": 1}, SCHEMA)
    assert '$: missing required key "answer"' in problems
    assert "$.score: 11 is above the maximum 10" in problems
    assert '$.tags[1]: "c" is not one of "a", "b"' in problems
    assert "$.ok: expected boolean, got integer" in problems
    assert validate({"answer": "x", "score": 3}, SCHEMA) == []
    assert validate(True, {"type": "integer"}) == ["$: expected integer, got boolean"]
    assert validate(2.0, {"type": "integer"}) == []
    assert validate({"x": 1}, {"type": "object", "additionalProperties": False}) == ['$: unexpected key "x"']


def test_valid_reply_needs_one_call_and_carries_the_schema():
    llm = Scripted(['Sure! {"answer": "hi", "score": 3}'])
    assert complete_json(llm, "q", schema=SCHEMA) == {"answer": "hi", "score": 3}
    assert len(llm.calls) == 1
    assert '"required"' in llm.prompts[0][0]["content"]
    assert llm.calls[0].options["response_format"]["type"] == "json_schema"


def test_one_repair_round_tells_the_model_what_was_wrong():
    llm = Scripted(['{"answer": "hi", "score": "high"}', '{"answer": "hi", "score": 7}'])
    assert complete_json(llm, "q", schema=SCHEMA) == {"answer": "hi", "score": 7}
    repair = llm.prompts[1]
    assert repair[-2] == {"role": "assistant", "content": '{"answer": "hi", "score": "high"}'}
    assert "$.score: expected integer, got string" in repair[-1]["content"]


def test_second_failure_raises_with_the_raw_text():
    llm = Scripted(["not json at all", "still {broken"])
    with pytest.raises(LLMFormatError) as info:
        complete_json(llm, "q", schema=SCHEMA)
    assert info.value.raw == "still {broken"
    assert info.value.problems and len(llm.calls) == 2


def test_existing_system_message_is_extended_not_duplicated():
    llm = Scripted(['{"answer": "x", "score": 1}'])
    complete_json(llm, [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "q"}], SCHEMA)
    roles = [m["role"] for m in llm.prompts[0]]
    assert roles == ["system", "user"] and llm.prompts[0][0]["content"].startswith("Be brief.")


def test_response_format_styles():
    assert response_format("json_object_schema", SCHEMA, "r") == {"type": "json_object", "schema": SCHEMA}
    assert response_format("json_schema", SCHEMA, "r")["json_schema"]["schema"] == SCHEMA
    assert response_format("json_schema", None, "r") == {"type": "json_object"}
    assert response_format("none", SCHEMA, "r") is None


def test_server_rejecting_json_schema_falls_back_and_remembers():
    good = '{"answer": "a", "score": 1}'
    with FakeOpenAIServer(faults=["422"], reply=good) as server:
        llm = OpenAI(model="fake-model", base_url=server.base_url)
        assert llm.response_format_style is None
        assert complete_json(llm, "q", schema=SCHEMA) == {"answer": "a", "score": 1}
        assert llm.response_format_style == "json_object_schema"
        sent = [r["response_format"]["type"] for r in server.requests]
        assert sent == ["json_schema", "json_object"]
        assert server.requests[1]["response_format"]["schema"] == SCHEMA
        complete_json(llm, "again", schema=SCHEMA)
        assert server.calls == 3  # no more probing


def test_repair_through_a_real_server_round_trip():
    replies = ["```json\n{\"answer\": 1}\n```", '{"answer": "fixed", "score": 2}']
    with FakeOpenAIServer(reply=replies) as server:
        llm = OpenAI(model="fake-model", base_url=server.base_url, response_format_style="json_schema")
        assert asyncio.run(acomplete_json(llm, "q", schema=SCHEMA)) == {"answer": "fixed", "score": 2}
        last = server.requests[1]["messages"][-1]["content"]
        assert "$.answer: expected string, got integer" in last
        assert 'missing required key "score"' in last


def test_raw_newlines_inside_json_strings_are_read():
    from backprose.llm.structured import extract_json

    assert extract_json('{"value": "line one\nline two\tend"}') == {"value": "line one\nline two\tend"}
    assert extract_json('Here: {"a": "x\ny"} done') == {"a": "x\ny"}


@given(st.text(alphabet=st.characters(blacklist_characters='"\'\\', blacklist_categories=("Cs",)), max_size=80))
def test_python_triple_quoted_values_are_read_as_the_string_they_delimit(body):
    reply = 'Here it is:\n```json\n{"value": """\n' + body + '\n"""}\n```'
    assert extract_json(reply) == {"value": body + "\n"}


def test_a_triple_quoted_reply_that_is_still_not_json_says_how_to_write_it():
    with pytest.raises(ValueError, match=r"one JSON string with \\n for each line break"):
        extract_json('{"value": """def f():\n    return 1""", }')
    valid = '{"doc": "quotes like \\"\\"\\" stay as they are"}'
    assert extract_json(valid) == {"doc": 'quotes like """ stay as they are'}


# --- complete_json and acomplete_json are one implementation -------------------------------------------
GOOD = '{"answer": "a", "score": 1}'
JSON_CASES = {
    "valid at once": (['Sure! {"answer": "hi", "score": 3}'], {}),
    "repaired": (['{"answer": "hi", "score": "high"}', '{"answer": "hi", "score": 7}'], {}),
    "unusable twice": (["not json at all", "still {broken"], {}),
    "no repair": (["not json at all"], {"repair": False}),
    "style refused, then accepted": ([LLMServerError("http://x", 422, "bad response_format"), GOOD], {}),
    "two styles refused": ([LLMServerError("http://x", 400), LLMServerError("http://x", 415), GOOD], {}),
    "server failing": ([LLMServerError("http://x", 500, "boom")], {}),
}


def _json_outcome(call):
    try:
        return "ok", call()
    except LLMFormatError as err:
        return "LLMFormatError", err.raw, err.problems
    except Exception as err:
        return type(err).__name__, str(err)


@pytest.mark.parametrize("case", sorted(JSON_CASES))
def test_complete_json_and_acomplete_json_send_the_same_requests_and_give_the_same_result(case):
    replies, options = JSON_CASES[case]
    sync_llm, async_llm = Scripted(list(replies)), Scripted(list(replies))
    expected = _json_outcome(lambda: complete_json(sync_llm, "q", schema=SCHEMA, temperature=0, **options))
    got = _json_outcome(lambda: asyncio.run(acomplete_json(async_llm, "q", schema=SCHEMA, temperature=0,
                                                           **options)))
    assert got == expected
    assert async_llm.prompts == sync_llm.prompts
    assert [c.options for c in async_llm.calls] == [c.options for c in sync_llm.calls]
    assert getattr(async_llm, "response_format_style", None) == getattr(sync_llm, "response_format_style", None)


def test_a_refused_style_and_a_repair_are_each_one_log_line(caplog):
    llm = Scripted([LLMServerError("http://x", 422), '{"answer": 1}', GOOD])
    with caplog.at_level(logging.INFO, logger="backprose"):
        assert complete_json(llm, "q", schema=SCHEMA) == {"answer": "a", "score": 1}
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert "'json_schema'" in lines[0] and "422" in lines[0] and "'json_object_schema'" in lines[0]
    assert "asking once more" in lines[1] and "2 problem(s)" in lines[1]
    assert llm.response_format_style == "json_object_schema"
