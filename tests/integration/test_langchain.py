"""LangChain's ChatOpenAI against the service: with_structured_output and bind_tools."""

from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from pydantic import BaseModel

from tasks.settings import Settings

MODEL = Settings.from_env({}).model_name


class Person(BaseModel):
    name: str
    age: int


@tool
def get_weather(city: str) -> str:
    """The current weather in a city."""
    return "4 degrees, light snow"


def _llm(api: str) -> ChatOpenAI:
    return ChatOpenAI(base_url=f"{api}/v1", api_key="unused", model=MODEL, temperature=0, max_tokens=64, max_retries=0)


def test_with_structured_output_returns_the_model(api):
    person = _llm(api).with_structured_output(Person).invoke("Extract the person: John Smith is 42 years old.")
    assert person == Person(name="John Smith", age=42)


def test_bind_tools_returns_a_tool_call(api):
    message = _llm(api).bind_tools([get_weather], tool_choice="get_weather").invoke("What is the weather in Oslo?")
    assert [call["name"] for call in message.tool_calls] == ["get_weather"]
    assert isinstance(message.tool_calls[0]["args"]["city"], str)
