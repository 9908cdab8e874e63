"""Make the course's shipped datasets (data/tone/*.jsonl and data/qa/*.jsonl).

Run from the repository root: ``python data/make_data.py``. The output is
deterministic (fixed seed), so rerunning it reproduces the committed files
byte for byte. See data/README.md for the dataset cards.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

SEED = 1234
TONE_TRAIN_PER_LABEL = 300
TONE_TEST_PER_LABEL = 50
QA_TEST_FRACTION = 0.2

SUBJECTS = [
    "I am", "We are", "She is", "He is", "My friend is", "Everyone is",
    "The kids are", "Honestly, I am", "My mom is", "Our team is", "They are", "My dad is",
]
OPENERS = ["", "Today ", "Last night ", "This morning ", "Yesterday ", "Just now ", "Tonight "]

# Each tone: feeling words (cues) and situations that carry the tone on their own.
TONES: dict[str, dict[str, list[str]]] = {
    "joy": {
        "cues": ["happy", "delighted", "thrilled", "overjoyed", "glad", "cheerful",
                 "ecstatic", "elated", "grateful", "proud", "over the moon", "so excited"],
        "events": [
            "we won the championship", "my best friend is getting married", "the sun came out for our picnic",
            "I passed every exam", "the puppy finally learned its name", "grandma is visiting this weekend",
            "I got the job I wanted", "our garden is full of flowers", "the whole family came for dinner",
            "my little sister took her first steps", "we finished the project together",
            "the band played our favourite song", "I finally paid off my loan", "my painting sold at the fair",
            "the baby laughed for the first time", "we are going to the beach", "my team threw me a party",
            "the new bakery gave us free cake", "I got a raise at work", "our old friends came back to town",
            "the kids built a snowman", "my essay won first prize", "we adopted a kitten",
            "the holiday starts tomorrow", "my brother got into his dream school",
        ],
    },
    "sadness": {
        "cues": ["sad", "heartbroken", "miserable", "gloomy", "lonely", "devastated",
                 "down", "hopeless", "tearful", "crushed", "grieving", "so upset"],
        "events": [
            "my old dog passed away", "the concert was cancelled for good", "my best friend moved away",
            "nobody came to the party", "I lost my grandfather's watch", "our team lost the final",
            "the old cinema closed its doors", "my plant finally died", "I failed the driving test again",
            "she forgot my birthday", "we had to sell the family house", "the rain ruined the wedding",
            "my letter was never answered", "the shop I loved shut down", "I said goodbye at the station",
            "my grandmother is in the hospital", "the trip was called off", "I was left out of the team",
            "the kitten ran away", "we broke up after six years", "my favourite mug shattered",
            "I miss my home town", "the project I loved was scrapped", "our last summer together ended",
            "the letters from dad stopped coming",
        ],
    },
    "fear": {
        "cues": ["scared", "terrified", "afraid", "anxious", "nervous", "frightened",
                 "panicked", "worried", "uneasy", "petrified", "shaking", "so tense"],
        "events": [
            "there is a strange noise in the attic", "the plane is shaking badly",
            "someone is following me home", "the lights went out during the storm",
            "a stranger is knocking on the window", "the dog is growling at the dark hallway",
            "the brakes stopped working on the hill", "I heard footsteps behind me",
            "the river is rising near the house", "the doctor wants to run more tests",
            "a spider is crawling up my arm", "the elevator stopped between floors",
            "the smoke alarm is going off", "the boat is taking on water", "a wolf howled near the tent",
            "the ice is cracking under us", "I am lost in the forest at night", "the door creaked open by itself",
            "the storm is tearing the roof", "a car swerved toward us", "the bridge is swaying in the wind",
            "my phone died in the dark alley", "the test results come tomorrow",
            "a shadow moved in the basement", "the ladder is wobbling under me",
        ],
    },
    "surprise": {
        "cues": ["surprised", "shocked", "amazed", "astonished", "stunned", "speechless",
                 "startled", "baffled", "taken aback", "blown away", "caught off guard", "in disbelief"],
        "events": [
            "the package arrived a week early", "my brother showed up unannounced",
            "the quiet kid won the talent show", "it snowed in july", "the old radio started working again",
            "my teacher remembered my name after ten years", "the cat opened the fridge",
            "a letter came from a cousin I never met", "the shy neighbour can sing opera",
            "the bus came exactly on time", "a rainbow appeared at midnight", "my grandpa started a band",
            "the meeting ended early", "the magician pulled a rabbit from my bag",
            "the tiny shop had every book I wanted", "my twin friend dyed her hair green",
            "the river turned bright orange", "the coffee machine made soup", "a parrot answered the phone",
            "the lost wallet came back with a note", "our small town was on the news",
            "the painting was hiding another painting", "the baby said a whole sentence",
            "my old phone turned on after years", "the ending of the film was not what anyone expected",
        ],
    },
}

QA_OPPOSITES = [
    ("hot", "cold"), ("big", "small"), ("fast", "slow"), ("happy", "sad"), ("light", "dark"),
    ("up", "down"), ("open", "closed"), ("early", "late"), ("full", "empty"), ("old", "new"),
    ("hard", "soft"), ("wet", "dry"), ("loud", "quiet"), ("near", "far"), ("high", "low"),
    ("rich", "poor"), ("strong", "weak"), ("long", "short"), ("clean", "dirty"), ("first", "last"),
]
QA_WORDS = [
    "apple", "river", "garden", "window", "candle", "pencil", "rabbit", "cloud", "bottle", "ticket",
    "forest", "button", "mirror", "planet", "basket", "dragon", "silver", "rocket", "pillow", "tiger",
]


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def tone_phrases(rng: random.Random, tone: str, count: int) -> list[str]:
    """Return `count` distinct phrases carrying `tone`, from a few sentence patterns."""
    cues, events = TONES[tone]["cues"], TONES[tone]["events"]
    patterns = [
        lambda: f"{rng.choice(SUBJECTS)} {rng.choice(cues)} because {rng.choice(events)}.",
        lambda: f"{rng.choice(SUBJECTS)} {rng.choice(cues)}: {rng.choice(events)}.",
        lambda: f"{_cap(rng.choice(OPENERS) + rng.choice(events))}, and {rng.choice(SUBJECTS).lower()} {rng.choice(cues)}.",
        lambda: f"{_cap(rng.choice(OPENERS) + rng.choice(events))}.",
        lambda: f"{_cap(rng.choice(cues))}! {_cap(rng.choice(events))}.",
    ]
    phrases: set[str] = set()
    while len(phrases) < count:
        phrases.add(rng.choice(patterns)())
    return sorted(phrases)


def make_tone(rng: random.Random) -> tuple[list[dict], list[dict]]:
    """Split per label so both splits are balanced and no phrase is in both."""
    train, test = [], []
    for tone in TONES:
        phrases = tone_phrases(rng, tone, TONE_TRAIN_PER_LABEL + TONE_TEST_PER_LABEL)
        rng.shuffle(phrases)
        test += [{"phrase": p, "tone": tone} for p in phrases[:TONE_TEST_PER_LABEL]]
        train += [{"phrase": p, "tone": tone} for p in phrases[TONE_TEST_PER_LABEL:]]
    rng.shuffle(train)
    rng.shuffle(test)
    return train, test


def make_qa(rng: random.Random) -> tuple[list[dict], list[dict]]:
    """Short instructions with procedural answers, so held-out questions are answerable."""
    rows = []
    for word, opposite in QA_OPPOSITES:
        rows.append({"input": f"What is the opposite of {word}?", "output": f"The opposite of {word} is {opposite}."})
        rows.append({"input": f"What is the opposite of {opposite}?", "output": f"The opposite of {opposite} is {word}."})
    for word in QA_WORDS:
        rows.append({"input": f"Write {word} in capital letters.", "output": word.upper()})
        rows.append({"input": f"What is the first letter of {word}?", "output": f"The first letter of {word} is {word[0]}."})
        rows.append({"input": f"Make {word} plural.", "output": f"{word}s"})
    for number in range(1, 41):
        rows.append({"input": f"What number comes after {number}?", "output": f"{number + 1} comes after {number}."})
    rng.shuffle(rows)
    n_test = int(len(rows) * QA_TEST_FRACTION)
    return rows[n_test:], rows[:n_test]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")


def main(out_dir: Path | None = None) -> None:
    """Write all four files under `out_dir` (default: the folder of this script)."""
    here = out_dir or Path(__file__).resolve().parent
    rng = random.Random(SEED)
    tone_train, tone_test = make_tone(rng)
    qa_train, qa_test = make_qa(rng)
    write_jsonl(here / "tone" / "train.jsonl", tone_train)
    write_jsonl(here / "tone" / "test.jsonl", tone_test)
    write_jsonl(here / "qa" / "train.jsonl", qa_train)
    write_jsonl(here / "qa" / "test.jsonl", qa_test)
    print(f"tone: {len(tone_train)} train, {len(tone_test)} test; qa: {len(qa_train)} train, {len(qa_test)} test")


if __name__ == "__main__":
    main()
