"""Sample data several test tiers share: limits and bad request bodies with the field each names."""

from tasks.contract import Limits, model_queues
from tasks.errors import InvalidRequest, MalformedBody
from tasks.settings import DEFAULT_MODEL

#: The default model's queues (every test service serves the default model).
QUEUES = model_queues(DEFAULT_MODEL)
LIMITS = Limits(max_new_tokens=512, default_max_tokens=64, max_prompt_chars=100)
TOO_LONG = "x" * (LIMITS.max_prompt_chars + 1)

#: (body, the field the error names, the error raised)
BAD_BODIES = [
    ([], None, MalformedBody),
    ("prompt", None, MalformedBody),
    ({}, "prompt", InvalidRequest),
    ({"prompt": "x", "messages": [{"role": "user", "content": "y"}]}, "prompt", InvalidRequest),
    ({"prompt": ""}, "prompt", InvalidRequest),
    ({"prompt": " \n\t "}, "prompt", InvalidRequest),
    ({"prompt": 42}, "prompt", InvalidRequest),
    ({"prompt": ["a"]}, "prompt", InvalidRequest),
    ({"prompt": TOO_LONG}, "prompt", InvalidRequest),
    ({"prompt": "nul\x00byte"}, "prompt", InvalidRequest),
    ({"prompt": "bell\x07"}, "prompt", InvalidRequest),
    ({"prompt": "lone \ud800 surrogate"}, "prompt", InvalidRequest),
    ({"prompt": "x", "max_tokens": 0}, "max_tokens", InvalidRequest),
    ({"prompt": "x", "max_tokens": 513}, "max_tokens", InvalidRequest),
    ({"prompt": "x", "max_tokens": 10**30}, "max_tokens", InvalidRequest),
    ({"prompt": "x", "max_tokens": "10"}, "max_tokens", InvalidRequest),
    ({"prompt": "x", "max_tokens": True}, "max_tokens", InvalidRequest),
    ({"prompt": "x", "max_tokens": 1.5}, "max_tokens", InvalidRequest),
    ({"prompt": "x", "temperature": -0.1}, "temperature", InvalidRequest),
    ({"prompt": "x", "temperature": 2.01}, "temperature", InvalidRequest),
    ({"prompt": "x", "temperature": float("nan")}, "temperature", InvalidRequest),
    ({"prompt": "x", "temperature": "hot"}, "temperature", InvalidRequest),
    ({"prompt": "x", "top_p": 0}, "top_p", InvalidRequest),
    ({"prompt": "x", "top_p": 1.1}, "top_p", InvalidRequest),
    ({"prompt": "x", "stop": ""}, "stop", InvalidRequest),
    ({"prompt": "x", "stop": [1]}, "stop", InvalidRequest),
    ({"prompt": "x", "stop": ["a", "b", "c", "d", "e"]}, "stop", InvalidRequest),
    ({"prompt": "x", "seed": -1}, "seed", InvalidRequest),
    ({"prompt": "x", "seed": "1"}, "seed", InvalidRequest),
    ({"prompt": "x", "stream": True}, "stream", InvalidRequest),
    ({"prompt": "x", "timeout": 3}, "timeout", InvalidRequest),
    ({"messages": []}, "messages", InvalidRequest),
    ({"messages": "hi"}, "messages", InvalidRequest),
    ({"messages": [{"role": "user"}]}, "messages[0]", InvalidRequest),
    ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role", InvalidRequest),
    ({"messages": [{"role": "user", "content": {"nested": ["junk"]}}]}, "messages[0].content", InvalidRequest),
    (
        {"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}]},
        "messages",
        InvalidRequest,
    ),
]

#: The worker and API under test. A longer batch wait than the default makes "these 8 requests
#: arrive within one window" hold on a busy 2-core CI machine; a high character limit lets a
#: prompt through the API that only the worker (counting tokens) can refuse.
SERVICE_ENV = {
    "MAX_BATCH_SIZE": "8",
    "BATCH_WAIT_MS": "300",
    "MAX_PROMPT_CHARS": "200000",
    "BATCH_WINDOW": "8",
    "CACHE_VERIFY_RATE": "0",  # no background verification jobs in the worker (tests/integration/test_cache.py)
}
