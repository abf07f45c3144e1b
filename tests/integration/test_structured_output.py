"""Structured output through the official `openai` client: Pydantic models, JSON mode, the cache."""

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import openai
import pytest
from pydantic import BaseModel

from tasks.settings import Settings

MODEL = Settings.from_env({}).model_name


class Person(BaseModel):
    name: str
    age: int


class Trip(BaseModel):
    destination: str
    days: int
    transport: Literal["train", "plane", "car", "boat"]


PEOPLE = [
    "John Smith is 42 years old.",
    "Maria, aged 7, likes cats.",
    "The pilot, Ken Wu, turned 55 last week.",
    "Alice (31) runs a bakery.",
    "Our neighbour Otto Berg celebrated his 80th birthday.",
    "Priya is a 19-year-old student.",
    "At 66, Hector Ruiz still surfs every morning.",
    "The youngest player, Mia, is only 12.",
    "Dr. Lena Novak, 47, leads the lab.",
    "Grandpa Joe is ninety.",
]
TRIPS = [
    "We are taking the train to Vienna for 5 days.",
    "Flying to Tokyo for two weeks!",
    "A 3-day road trip by car to the Grand Canyon.",
    "Sailing to the Greek islands for 10 days.",
    "Plane to Lisbon, staying 4 days.",
    "Train ride to Edinburgh for a weekend of 2 days.",
    "Driving to the coast for 7 days.",
    "A week in Reykjavik; we fly there.",
    "Ferry (boat) to Helsinki for 3 days.",
    "One day in Paris, by train.",
]


@pytest.fixture(scope="module")
def client(api) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{api}/v1", api_key="unused", max_retries=0, timeout=300)


def test_parse_returns_a_pydantic_object_for_every_prompt(client):
    def parse(item: tuple[type[BaseModel], str]) -> BaseModel | None:
        model, text = item
        completion = client.chat.completions.parse(
            model=MODEL,
            messages=[{"role": "user", "content": f"Extract the details as JSON. {text}"}],
            response_format=model,
            temperature=0,
            max_tokens=64,
        )
        return completion.choices[0].message.parsed

    items = [(Person, text) for text in PEOPLE] + [(Trip, text) for text in TRIPS]
    with ThreadPoolExecutor(8) as pool:
        parsed = list(pool.map(parse, items))
    assert [type(p) for p in parsed] == [model for model, _ in items]  # 20/20, each validated by Pydantic
    assert parsed[0] == Person(name="John Smith", age=42)


def test_json_mode_returns_a_json_object(client):
    completion = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Describe a cat as a JSON object with a name and a colour."}],
        response_format={"type": "json_object"},
        temperature=0,
        max_tokens=100,
    )
    assert completion.choices[0].finish_reason == "stop"
    assert isinstance(json.loads(completion.choices[0].message.content), dict)


def test_a_bad_schema_is_refused_naming_the_field(client):
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "hi"}],
            response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "objekt"}}},
        )
    assert refused.value.body["param"] == "response_format.json_schema.schema"


def test_a_cached_free_text_answer_is_never_served_for_a_structured_request(client):
    body = {"model": MODEL, "messages": [{"role": "user", "content": "Tell me about Ada Lovelace, 36."}]}
    body |= {"temperature": 0, "max_tokens": 32}
    free = client.chat.completions.with_raw_response.create(**body)
    again = client.chat.completions.with_raw_response.create(**body)
    structured = client.chat.completions.with_raw_response.create(**body, response_format={"type": "json_object"})
    assert again.headers["X-Cache"] == "HIT"
    assert structured.headers["X-Cache"] == "MISS"
    assert structured.parse().choices[0].message.content != free.parse().choices[0].message.content
