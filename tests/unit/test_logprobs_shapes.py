"""OpenAI's logprobs shapes from the worker's per-token [text, logprob, alternatives]."""

from webapi import logprobs

RESULT = {
    "text": " Paris.",
    "logprobs": [[" Paris", -0.1, [[" Paris", -0.1], [" Lyon", -2.5]]], [".", -0.3, [[".", -0.3], ["!", -1.9]]]],
    "prompt_logprobs": [["The", None, None], [" capital", -4.0, [[" city", -3.0], [" capital", -4.0]]]],
}


def test_chat_logprobs_name_each_token_with_its_bytes_and_alternatives():
    content = logprobs.chat(RESULT)["content"]
    assert [c["token"] for c in content] == [" Paris", "."] and content[0]["bytes"] == list(b" Paris")
    assert content[0]["top_logprobs"][1] == {"token": " Lyon", "logprob": -2.5, "bytes": list(b" Lyon")}
    assert logprobs.chat({"text": "x"}) is None  # not asked for


def test_completion_logprobs_put_the_prompt_first_with_echo():
    plain = logprobs.completion(RESULT, echo=False)
    assert plain["tokens"] == [" Paris", "."] and plain["text_offset"] == [0, 6]
    echoed = logprobs.completion(RESULT, echo=True)
    assert echoed["tokens"] == ["The", " capital", " Paris", "."]
    assert echoed["token_logprobs"] == [None, -4.0, -0.1, -0.3]
    assert echoed["top_logprobs"][0] is None
    assert echoed["top_logprobs"][1] == {" city": -3.0, " capital": -4.0}  # the chosen token is always there
    assert echoed["text_offset"] == [0, 3, 11, 17]
