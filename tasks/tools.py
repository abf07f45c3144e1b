"""Tool calling (OpenAI's `tools` and `tool_choice`) in the Hermes format.

The model sees the tools through its chat template when the template takes them (Qwen2.5, Qwen3,
Hermes 2/3, SmolLM3: all Hermes-format); a template that does not (SmolLM2, GPT-2, ...) gets the
same Hermes instructions as a system message, written here. The model answers a call as

    <tool_call>
    {"name": "get_weather", "arguments": {"city": "Paris"}}
    </tool_call>

which `parse_calls` turns into OpenAI's `tool_calls`. `tool_choice` "required" or a named function
constrains the output with a grammar (the call, its name, and arguments matching the function's
`parameters` schema), so the call is there and valid; "auto" lets the model choose, and only calls
that parse and name a known tool count as calls.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from llguidance import LLMatcher

from tasks.errors import InvalidRequest
from tasks.structured import JSON_LAYOUT

OPEN, CLOSE = "<tool_call>", "</tool_call>"
MAX_TOOLS = 128
NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_CALL = re.compile(re.escape(OPEN) + r"\s*(.*?)\s*" + re.escape(CLOSE), re.DOTALL)
SYSTEM_PROMPT = """# Tools

You may call one or more functions to assist with the user query.

You are provided with function signatures within <tools></tools> XML tags:
<tools>
{tools}
</tools>

For each function call, return a json object with function name and arguments within \
<tool_call></tool_call> XML tags:
<tool_call>
{{"name": <function-name>, "arguments": <args-json-object>}}
</tool_call>"""


def normalise_tools(value: Any) -> tuple[dict[str, Any], ...] | None:
    """OpenAI's `tools` as a tuple of {"name", "description", "parameters"}; InvalidRequest if wrong."""
    if value is None or value == []:
        return None
    if not isinstance(value, list) or len(value) > MAX_TOOLS:
        raise InvalidRequest(f"tools must be a list of at most {MAX_TOOLS} functions", "tools", "invalid_value")
    tools, names = [], set()
    for i, tool in enumerate(value):
        where = f"tools[{i}]"
        function = tool.get("function") if isinstance(tool, dict) and tool.get("type") == "function" else None
        if not isinstance(function, dict) or not NAME.match(str(function.get("name", ""))):
            raise InvalidRequest(
                f"{where} must be {{type: function, function: {{name (letters, digits, _ or -, up to 64), "
                "description, parameters}}",
                where,
                "invalid_value",
            )
        if function["name"] in names:
            raise InvalidRequest(f"{where}: {function['name']!r} is named twice", f"{where}.function.name", "conflict")
        names.add(function["name"])
        parameters = function.get("parameters") or {"type": "object", "properties": {}}
        if not isinstance(parameters, dict) or not _usable(parameters):
            where = f"{where}.function.parameters"
            raise InvalidRequest(f"{where} is not a usable JSON Schema", where, "invalid_value")
        description = function.get("description")
        tools.append({"name": function["name"], "description": description or "", "parameters": parameters})
    return tuple(tools)


def normalise_choice(value: Any, tools: tuple[dict[str, Any], ...] | None) -> str:
    """`tool_choice` as "none", "auto", "required" or the name of the function to call."""
    if value is None:
        return "auto" if tools else "none"
    if value in ("none", "auto", "required"):
        if value != "none" and not tools:
            raise InvalidRequest(f"tool_choice {value!r} needs tools", "tool_choice", "invalid_value")
        return value
    function = value.get("function") if isinstance(value, dict) and value.get("type") == "function" else None
    name = function.get("name") if isinstance(function, dict) else None
    if not isinstance(name, str):
        raise InvalidRequest(
            "tool_choice must be none, auto, required or {type: function, function: {name}}",
            "tool_choice",
            "invalid_value",
        )
    if name not in {tool["name"] for tool in tools or ()}:
        where = "tool_choice.function.name"
        raise InvalidRequest(f"tool_choice names {name!r}, which is not in tools", where, "invalid_value")
    return name


def grammar(tools: tuple[dict[str, Any], ...], choice: str, tags: tuple[str, str] | None = None) -> str | None:
    """The grammar that forces a call ("required": to one of the tools; a name: to that one).

    `tags`: how the grammar writes <tool_call> and </tool_call>: `tag_terms(tokenizer)`.
    """
    if choice in ("none", "auto"):
        return None
    return _call_grammar([tool for tool in tools if choice == "required" or tool["name"] == choice], tags)


def tag_terms(tokenizer: Any) -> tuple[str, str]:
    """The call tags as grammar terms: a token of its own where the tokenizer added them (Qwen,
    Hermes: llguidance matches such a token by id only), else their text."""
    added = tokenizer.get_added_vocab()
    return tuple(f"<[{added[tag]}]>" if tag in added else json.dumps(tag) for tag in (OPEN, CLOSE))  # type: ignore[return-value]


def system_prompt(tools: tuple[dict[str, Any], ...]) -> str:
    """Hermes tool instructions, for a chat template that does not take tools itself."""
    return SYSTEM_PROMPT.format(tools="\n".join(json.dumps(as_openai(tool)) for tool in tools))


def as_openai(tool: dict[str, Any]) -> dict[str, Any]:
    """A normalised tool in OpenAI's (and chat templates') shape."""
    return {"type": "function", "function": tool}


def call_text(name: str, arguments: str) -> str:
    """An earlier call as the model writes it (an assistant message's tool_calls, replayed)."""
    try:
        parsed = json.loads(arguments)
    except ValueError:
        parsed = arguments
    return f"{OPEN}\n{json.dumps({'name': name, 'arguments': parsed})}\n{CLOSE}"


def parse_calls(text: str, tools: tuple[dict[str, Any], ...]) -> tuple[str | None, list[dict[str, Any]]]:
    """(the text besides the calls, or None; OpenAI's tool_calls) from a model's answer."""
    names = {tool["name"] for tool in tools}
    calls, kept = [], []
    position = 0
    for match in _CALL.finditer(text):
        try:
            call = json.loads(match.group(1))
        except ValueError:
            continue  # not a call after all: it stays in the text
        if not isinstance(call, dict) or call.get("name") not in names:
            continue
        kept.append(text[position : match.start()])
        position = match.end()
        arguments = call.get("arguments", call.get("parameters", {}))
        function = {"name": call["name"], "arguments": json.dumps(arguments)}
        calls.append({"id": f"call_{uuid.uuid4().hex[:24]}", "type": "function", "function": function})
    kept.append(text[position:])
    content = "".join(kept).strip()
    return (content or None) if calls else text, calls


def _usable(parameters: dict[str, Any]) -> bool:
    try:
        return not LLMatcher.validate_grammar(_call_grammar([{"name": "x", "parameters": parameters}]))
    except ValueError:
        return False


def _call_grammar(tools: list[dict[str, Any]], tags: tuple[str, str] | None = None) -> str:
    calls = [
        {
            "type": "object",
            "properties": {"name": {"const": tool["name"]}, "arguments": tool["parameters"]},
            "required": ["name", "arguments"],
            "additionalProperties": False,
        }
        for tool in tools
    ]
    schema = {**(calls[0] if len(calls) == 1 else {"anyOf": calls}), "x-guidance": JSON_LAYOUT}
    opening, closing = tags or (json.dumps(OPEN), json.dumps(CLOSE))
    return LLMatcher.grammar_from_lark(f'start: {opening} "\\n" call "\\n" {closing}\ncall: %json {json.dumps(schema)}')
