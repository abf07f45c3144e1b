"""A chat as prompt text, through the model's chat template: the worker's, and /tokenize's.

Tools go to the template when it takes them (it mentions `tools`), earlier calls and tool results
as its messages; otherwise the Hermes instructions of tasks/tools.py become part of the system
message, earlier calls are replayed as the model would write them, and tool results are user
turns in <tool_response> tags, as Hermes-format templates render them.
"""

from __future__ import annotations

import json
from typing import Any

from tasks import tools
from tasks.contract import GenerationRequest, Message


def render(tokenizer: Any, request: GenerationRequest) -> str:
    """The prompt text of a chat request, ending where the assistant's answer starts."""
    offered = request.tools if request.tools and request.tool_choice != "none" else None
    native = "tools" in (tokenizer.chat_template or "")
    chat = [_native(m) if native else _plain(m) for m in request.messages or ()]
    extra: dict[str, Any] = {}
    if offered and native:
        extra["tools"] = [tools.as_openai(tool) for tool in offered]
    elif offered:
        chat = _with_system(chat, tools.system_prompt(offered))
    return tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=False, **extra)


def _native(message: Message) -> dict[str, Any]:
    turn: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        turn["tool_calls"] = [
            {**call, "function": {**call["function"], "arguments": _arguments(call["function"].get("arguments"))}}
            for call in message.tool_calls
        ]
    if message.tool_call_id is not None:
        turn["tool_call_id"] = message.tool_call_id
    return turn


def _plain(message: Message) -> dict[str, str]:
    if message.role == "tool":
        return {"role": "user", "content": f"<tool_response>\n{message.content}\n</tool_response>"}
    if message.tool_calls:
        calls = [
            tools.call_text(c["function"]["name"], c["function"].get("arguments", "{}")) for c in message.tool_calls
        ]
        return {"role": "assistant", "content": "\n".join(filter(None, [message.content, *calls]))}
    return {"role": message.role, "content": message.content}


def _with_system(chat: list[dict[str, Any]], instructions: str) -> list[dict[str, Any]]:
    if chat and chat[0]["role"] == "system":
        return [{"role": "system", "content": f"{chat[0]['content']}\n\n{instructions}"}, *chat[1:]]
    return [{"role": "system", "content": instructions}, *chat]


def _arguments(arguments: Any) -> Any:
    """Templates index a call's arguments: give them as an object where they parse as one."""
    try:
        return json.loads(arguments) if isinstance(arguments, str) else arguments
    except ValueError:
        return arguments
