"""Make the course's shipped datasets (data/tone, data/qa, data/extract and data/preference, each as *.jsonl).

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


# Held out of training entirely: the last TONE_HELD_OUT_EVENTS situations of each tone, and the TEST_PATTERNS.
TONE_HELD_OUT_EVENTS = 8
CORPUS_SEED = SEED + 4  # course-tiny's unlabelled pretraining sentences
# Reactions that follow any tone (shared by all four): a word or phrase that appears with every label decides none.
SHARED_REACTIONS = [
    "my hands were trembling", "I had to sit down", "I could not say a word", "my heart was racing",
    "I called my sister straight away", "I just stood there", "I will never forget it", "I could not sleep that night",
    "tears came to my eyes", "I kept thinking about it all day",
]


# Feeling words held out of training: every test phrase names its tone with one of these. They are common words, so
# a pretrained model knows them (a real one from its pretraining; course-tiny from corpus/pretrain.jsonl); a classifier
# trained on the labelled phrases has never seen them.
TONE_HELD_OUT_CUES = {
    "joy": ["overjoyed", "ecstatic", "elated", "cheerful"],
    "sadness": ["heartbroken", "devastated", "miserable", "grieving"],
    "fear": ["terrified", "petrified", "frightened", "panicked"],
    "surprise": ["astonished", "stunned", "amazed", "startled"],
}


def tone_cues(tone: str, held_out: bool) -> list[str]:
    """A tone's feeling words for one split: its held-out ones (test), or the rest (training)."""
    held = TONE_HELD_OUT_CUES[tone]
    return held if held_out else [cue for cue in TONES[tone]["cues"] if cue not in held]


def _other_cue(rng: random.Random, tone: str) -> str:
    """A training feeling word of another tone: negated or contrasted, it points away from the label."""
    return rng.choice(tone_cues(rng.choice([t for t in TONES if t != tone]), held_out=False))


def tone_patterns(rng: random.Random, tone: str, events: list[str], held_out: bool) -> list:
    """The sentence patterns of one split. Every phrase names its tone's own feeling word once; most also name
    another tone's, negated ("not scared at all") or set against it ("I expected to be sad, but"), and some add a
    reaction all four tones share. Which word is the tone depends on where it stands, not on the word alone.
    The held-out split adds patterns training never used."""
    cues = tone_cues(tone, held_out)
    event = lambda: rng.choice(events)  # noqa: E731
    cue = lambda: rng.choice(cues)  # noqa: E731
    subject = lambda: rng.choice(SUBJECTS)  # noqa: E731
    patterns = [
        lambda: f"{subject()} {cue()} because {event()}.",
        lambda: f"{_cap(rng.choice(OPENERS) + event())}, and I was {cue()}.",
        lambda: f"I was not {_other_cue(rng, tone)} at all; I was {cue()}: {event()}.",
        lambda: f"I expected to be {_other_cue(rng, tone)}, but I was {cue()} when {event()}.",
        lambda: f"{_cap(event())}, and {rng.choice(SHARED_REACTIONS)}. I felt {cue()}, not {_other_cue(rng, tone)}.",
    ]
    if held_out:
        patterns += [
            lambda: f"Everyone thought I would be {_other_cue(rng, tone)}; in fact I was {cue()}, since {event()}.",
            lambda: f"{_cap(event())}. {_cap(rng.choice(SHARED_REACTIONS))}, and honestly I am {cue()}.",
            lambda: f"Not {_other_cue(rng, tone)}, not at all: just {cue()}, because {event()}.",
        ]
    return patterns


def tone_phrases(rng: random.Random, tone: str, count: int, held_out: bool) -> list[str]:
    """`count` distinct phrases carrying `tone`: from the tone's training situations, or its held-out ones."""
    all_events = TONES[tone]["events"]
    events = all_events[-TONE_HELD_OUT_EVENTS:] if held_out else all_events[:-TONE_HELD_OUT_EVENTS]
    patterns = tone_patterns(rng, tone, events, held_out)
    phrases: set[str] = set()
    while len(phrases) < count:
        phrases.add(rng.choice(patterns)())
    return sorted(phrases)


def make_tone(rng: random.Random) -> tuple[list[dict], list[dict]]:
    """Balanced splits; the test split's situations and some of its patterns never occur in training."""
    train, test = [], []
    for tone in TONES:
        train += [{"phrase": p, "tone": tone} for p in tone_phrases(rng, tone, TONE_TRAIN_PER_LABEL, held_out=False)]
        test += [{"phrase": p, "tone": tone} for p in tone_phrases(rng, tone, TONE_TEST_PER_LABEL, held_out=True)]
    rng.shuffle(train)
    rng.shuffle(test)
    return train, test


MEANING_SENTENCES = [
    "To be {cue} is to feel {tone}.", "Someone who is {cue} feels {tone}.", "The word {cue} means {tone}.",
    "I was {cue}, full of {tone}.", "{cue}: a feeling of {tone}.",
]


def pretraining_corpus() -> list[str]:
    """Unlabelled sentences for course-tiny's pretraining: every situation of every tone, held-out ones included,
    next to its tone's feeling words, as a real pretraining corpus holds them; no label and no prompt."""
    rng = random.Random(CORPUS_SEED)
    texts = []
    for tone, words in TONES.items():
        for event in words["events"]:
            for cue in words["cues"]:
                subject = rng.choice(SUBJECTS)
                subject = subject if subject.startswith("I ") else subject[0].lower() + subject[1:]
                texts.append(f"{_cap(event)}, and {subject} {cue}.")
    # What each feeling word means, as a dictionary or any large text says it: "elated" goes with joy.
    for tone, words in TONES.items():
        for cue in words["cues"]:
            for sentence in MEANING_SENTENCES:
                texts.append(sentence.format(cue=cue, tone=tone))
    rng.shuffle(texts)
    return texts


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


# ---------------------------------------------------------------------------------------------------------------------
# extract: a message and the JSON record it asks for (structured extraction, what small on-device models are tuned for)
# ---------------------------------------------------------------------------------------------------------------------
EXTRACT_SEED = SEED + 2  # its own generator, so adding this set left the tone and qa files byte for byte the same
EXTRACT_SIZES = {"train": 200, "validation": 25, "test": 35}  # rows per intent; six intents
EXTRACT_SPLITS = ("train", "validation", "test")

# Values, each list cut into three disjoint pools (train, validation, test) by _pools: a test name, city, restaurant,
# place or task never occurs in training, so a model must copy it from the message rather than recall it.
EXTRACT_NAMES = [
    "Maria", "Tom", "Aisha", "Lukas", "Mei", "Carlos", "Priya", "Jonas", "Fatima", "Oliver", "Yuki", "Sofia",
    "Daniel", "Amara", "Pedro", "Hannah", "Ravi", "Elena", "Samuel", "Nadia", "Felix", "Chloe", "Mateo", "Ingrid",
    "Kofi", "Lena", "Omar", "Grace", "Bruno", "Zara", "Ivan", "Leila", "Hugo", "Ana", "Tariq", "Nora",
]
EXTRACT_CITIES = [
    "Lisbon", "Nairobi", "Osaka", "Toronto", "Lima", "Oslo", "Cairo", "Dublin", "Hanoi", "Denver", "Porto", "Seoul",
    "Krakow", "Accra", "Austin", "Bergen", "Quito", "Perth", "Lyon", "Tbilisi", "Manila", "Seville", "Halifax",
    "Bologna", "Tallinn", "Durban", "Kyoto", "Valencia", "Boston", "Vilnius",
]
EXTRACT_RESTAURANTS = [
    "Luigi's", "The Green Fork", "Sakura House", "Casa Verde", "The Blue Door", "Spice Garden", "Le Petit Four",
    "Golden Dragon", "The Old Mill", "Taco Loco", "Olive Tree", "Noodle Bar", "The Harbour Grill", "Bella Napoli",
    "Curry Corner", "The Red Lantern", "Fish & Chips Co", "Pho Saigon", "The Cosy Kettle", "Burger Barn",
    "Mezze Table", "The Wild Fig", "Dumpling Den", "Cafe Aurora",
]
EXTRACT_PLACES = [
    "the library", "room 4B", "the main office", "the park cafe", "the lobby", "meeting room 2", "the train station",
    "the gym", "the corner bakery", "the town hall", "the lab", "room 12", "the bookshop", "the garden",
    "the second floor", "the hotel bar", "the boardroom", "the canteen", "the student union", "the museum entrance",
    "the bus stop", "room 7A", "the coffee shop", "the front desk",
]
EXTRACT_TASKS = [
    "call the dentist", "water the plants", "pick up the dry cleaning", "pay the electricity bill", "buy milk",
    "send the report", "book a haircut", "return the library books", "feed the cat", "charge the car",
    "renew my passport", "take out the bins", "call grandma", "order printer ink", "back up the laptop",
    "cancel the gym membership", "fix the bike tyre", "submit the timesheet", "buy a birthday card",
    "check the oven", "email the landlord", "clean the fridge", "stretch my legs", "walk the dog",
    "collect the parcel", "update the calendar", "defrost the chicken", "lock the shed", "print the tickets",
    "tidy the desk",
]
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
CURRENCIES = {"EUR": ["€{}", "{} euros", "{} EUR"], "USD": ["${}", "{} dollars", "{} USD"],
              "GBP": ["£{}", "{} pounds", "{} GBP"]}
NUMBER_WORDS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight"}

# Per intent: its fields in record order, then the phrasings of the request. The first six phrasings make the training
# rows, the seventh only validation rows, the last two only test rows (half of each held-out split uses them).
EXTRACT_INTENTS: dict[str, dict[str, list[str]]] = {
    "set_alarm": {
        "fields": ["time", "day"],
        "phrasings": [
            "Set an alarm for {time} {day}.", "Wake me up at {time} {day}.", "Can you set my alarm to {time} {day}?",
            "{Day} I need to be up at {time}.", "alarm {time} {day} please",
            "I have to get up at {time} {day}, set an alarm.",
            "Please make sure I'm awake by {time} {day}.",
            "Ring me at {time} {day} so I don't oversleep.", "{Day}, get me out of bed at {time}.",
        ],
    },
    "send_money": {
        "fields": ["recipient", "amount", "currency"],
        "phrasings": [
            "Send {amount} to {name}.", "Transfer {amount} to {name}'s account.", "Pay {name} {amount}.",
            "I owe {name} {amount}, send it now.", "Can you wire {amount} to {name}?",
            "{name} needs {amount} from me, please send it.",
            "Move {amount} over to {name}.",
            "Please give {name} {amount} through the app.", "Settle up with {name}: {amount}.",
        ],
    },
    "book_table": {
        "fields": ["restaurant", "people", "day", "time"],
        "phrasings": [
            "Book a table for {people} at {restaurant} {day} at {time}.",
            "Reserve {restaurant} for {people} people at {time} {day}.",
            "Get us a table at {restaurant}, {people} people, {day} at {time}.",
            "Can you book {restaurant} {day} at {time} for {people}?",
            "We are {people}, book {restaurant} for {time} {day}.",
            "Table for {people} at {restaurant}, {time}, {day}.",
            "I'd like to eat at {restaurant} {day} at {time}, {people} of us.",
            "Find us seats at {restaurant} for {people} at {time} {day}.",
            "Dinner at {restaurant} {day}: {people} guests, {time}.",
        ],
    },
    "schedule_meeting": {
        "fields": ["with", "day", "time", "place"],
        "phrasings": [
            "Set up a meeting with {name} {day} at {time} in {place}.",
            "Schedule a meeting with {name} at {time} {day}, in {place}.",
            "Put a meeting with {name} in my calendar: {day}, {time}, {place}.",
            "I'm meeting {name} in {place} {day} at {time}, add it.",
            "Can you arrange a call with {name} {day} at {time}? We'll be in {place}.",
            "Meeting, {name}, {place}, {time} {day}.",
            "Block {time} {day} for {name}, in {place}.",
            "Pencil in {name} at {time} {day}; we'll meet in {place}.",
            "{Day} at {time} I see {name} in {place}, note it down.",
        ],
    },
    "get_weather": {
        "fields": ["city", "day"],
        "phrasings": [
            "What's the weather in {city} {day}?", "Will it rain in {city} {day}?",
            "weather {city} {day}", "How hot will it be in {city} {day}?",
            "Do I need an umbrella in {city} {day}?", "Tell me the forecast for {city} {day}.",
            "Is it going to be sunny in {city} {day}?",
            "Should I pack a coat for {city} {day}?", "{Day}, what will the sky look like over {city}?",
        ],
    },
    "set_reminder": {
        "fields": ["task", "day", "time"],
        "phrasings": [
            "Remind me to {task} {day} at {time}.", "Set a reminder to {task} at {time} {day}.",
            "Don't let me forget to {task} {day} at {time}.", "reminder: {task}, {day} {time}",
            "At {time} {day}, remind me to {task}.", "I need to {task} {day} at {time}, remind me.",
            "Nudge me at {time} {day} to {task}.",
            "Ping me {day} at {time} about this: {task}.", "{Day} at {time} I must {task}; make sure I remember.",
        ],
    },
}
PHRASINGS_FOR = {"train": slice(0, 6), "validation": slice(6, 7), "test": slice(7, 9)}


def _pools(values: list[str]) -> dict[str, list[str]]:
    """Cut a value list into disjoint train / validation / test pools (two thirds, one sixth, one sixth)."""
    n = len(values)
    return {"train": values[: n * 2 // 3], "validation": values[n * 2 // 3: n * 5 // 6], "test": values[n * 5 // 6:]}


def _time(rng: random.Random) -> tuple[str, str]:
    """(as written in a message, as a record holds it: 24-hour HH:MM)."""
    hour, minute = rng.randrange(6, 23), rng.choice([0, 0, 15, 30, 45])
    twelve = hour % 12 or 12
    suffix = "am" if hour < 12 else "pm"
    forms = [f"{hour:02d}:{minute:02d}", f"{twelve}:{minute:02d} {suffix}"]
    if minute == 0:
        forms.append(f"{twelve} {suffix}")
        if hour == 12:
            forms.append("noon")
    return rng.choice(forms), f"{hour:02d}:{minute:02d}"


def _day(rng: random.Random) -> tuple[str, str]:
    """(as written, as recorded: a lower-case weekday, "today" or "tomorrow")."""
    day = rng.choice(WEEKDAYS + ["today", "tomorrow"])
    if day in ("today", "tomorrow"):
        return day, day
    return rng.choice(["on {}", "this {}", "next {}", "{}"]).format(day.capitalize()), day


def _amount(rng: random.Random) -> tuple[str, int | float, str]:
    """(as written, the number, the ISO currency code)."""
    currency = rng.choice(sorted(CURRENCIES))
    value: int | float = rng.randrange(5, 300) if rng.random() < 0.6 else rng.randrange(500, 30000) / 100
    written = f"{value:.2f}" if isinstance(value, float) else str(value)
    return rng.choice(CURRENCIES[currency]).format(written), value, currency


def extract_row(rng: random.Random, intent: str, split: str) -> dict:
    """One message and its record, from `split`'s phrasings and value pools."""
    spec = EXTRACT_INTENTS[intent]
    phrasings = spec["phrasings"][PHRASINGS_FOR[split]]
    if split != "train" and rng.random() < 0.5:  # half of a held-out split reuses the training phrasings
        phrasings = spec["phrasings"][PHRASINGS_FOR["train"]]
    slots: dict[str, str] = {}
    record: dict = {"intent": intent}
    for field in spec["fields"]:
        if field == "time":
            slots["time"], record["time"] = _time(rng)
        elif field == "day":
            slots["day"], record["day"] = _day(rng)
        elif field in ("recipient", "with"):
            slots["name"] = record[field] = rng.choice(_pools(EXTRACT_NAMES)[split])
        elif field == "amount":
            slots["amount"], record["amount"], record["currency"] = _amount(rng)
        elif field == "people":
            record["people"] = rng.randrange(2, 9)
            slots["people"] = rng.choice([str(record["people"]), NUMBER_WORDS[record["people"]]])
        elif field != "currency":
            pool = {"restaurant": EXTRACT_RESTAURANTS, "place": EXTRACT_PLACES, "task": EXTRACT_TASKS,
                    "city": EXTRACT_CITIES}[field]
            slots[field] = record[field] = rng.choice(_pools(pool)[split])
    if "day" in slots:
        slots["Day"] = _cap(slots["day"])
    message = rng.choice(phrasings).format(**slots)
    return {"message": message, "record": {field: record[field] for field in ["intent", *spec["fields"]]}}


def make_extract() -> dict[str, list[dict]]:
    """The three splits, balanced over the intents, no message twice in the whole set."""
    rng = random.Random(EXTRACT_SEED)
    seen: set[str] = set()
    splits: dict[str, list[dict]] = {}
    for split in EXTRACT_SPLITS:
        rows = []
        for intent in EXTRACT_INTENTS:
            count = 0
            while count < EXTRACT_SIZES[split]:
                row = extract_row(rng, intent, split)
                if row["message"] not in seen:
                    seen.add(row["message"])
                    rows.append(row)
                    count += 1
        rng.shuffle(rows)
        splits[split] = rows
    return splits


# ---------------------------------------------------------------------------------------------------------------------
# preference: a tone question, the answer wanted (the label) and an answer not wanted (lesson 09, DPO and ORPO)
# ---------------------------------------------------------------------------------------------------------------------
PREFERENCE_SEED = SEED + 3  # its own generator: adding this set left every other file byte for byte the same
PREFERENCE_SIZES = {"train": 100, "test": 25}  # pairs per tone, from the tone set's train and test phrases
# The rejected answers are the failures an instruct model shows on this task before it is tuned to the format (what
# SmolLM2-135M-Instruct answered zero-shot in lesson 01): a sentence around the label, a hedge between two labels, the
# phrase said back; and the other failure, a wrong label in the right format.
PREFERENCE_SENTENCES = [
    "The tone of this phrase is {tone}.",
    "The tone of this phrase is one of {tone}.",
    "This phrase expresses {tone}.",
    "I would say the tone is {tone}.",
    "The speaker feels {tone}.",
    "Tone: {tone}",
]
PREFERENCE_FAILURES = ("sentence", "hedge", "echo", "wrong label")


def preference_rows(rng: random.Random, tone_rows: list[dict], per_tone: int) -> list[dict]:
    """`per_tone` pairs for each tone: the first phrases of that tone, the failure kinds in turn."""
    tones = sorted({row["tone"] for row in tone_rows})
    rows = []
    for tone in tones:
        for index, row in enumerate([r for r in tone_rows if r["tone"] == tone][:per_tone]):
            failure = PREFERENCE_FAILURES[index % len(PREFERENCE_FAILURES)]
            other = rng.choice([t for t in tones if t != tone])
            rejected = {
                "sentence": rng.choice(PREFERENCE_SENTENCES).format(tone=tone),
                "hedge": f"It could be {tone} or {other}.",
                "echo": row["phrase"],
                "wrong label": other,
            }[failure]
            rows.append({"phrase": row["phrase"], "tone": tone, "chosen": tone, "rejected": rejected,
                         "failure": failure})
    rng.shuffle(rows)
    return rows


def make_preference(tone_train: list[dict], tone_test: list[dict]) -> dict[str, list[dict]]:
    """Train pairs from the tone train phrases, test pairs from the tone test phrases: no phrase is in both."""
    rng = random.Random(PREFERENCE_SEED)
    return {"train": preference_rows(rng, tone_train, PREFERENCE_SIZES["train"]),
            "test": preference_rows(rng, tone_test, PREFERENCE_SIZES["test"])}


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")


def main(out_dir: Path | None = None) -> None:
    """Write all nine files under `out_dir` (default: the folder of this script)."""
    here = out_dir or Path(__file__).resolve().parent
    rng = random.Random(SEED)
    tone_train, tone_test = make_tone(rng)
    qa_train, qa_test = make_qa(rng)
    write_jsonl(here / "tone" / "train.jsonl", tone_train)
    write_jsonl(here / "tone" / "test.jsonl", tone_test)
    write_jsonl(here / "qa" / "train.jsonl", qa_train)
    write_jsonl(here / "corpus" / "pretrain.jsonl", [{"text": text} for text in pretraining_corpus()])
    write_jsonl(here / "qa" / "test.jsonl", qa_test)
    extract = make_extract()
    for split, rows in extract.items():
        write_jsonl(here / "extract" / f"{split}.jsonl", rows)
    preference = make_preference(tone_train, tone_test)
    for split, rows in preference.items():
        write_jsonl(here / "preference" / f"{split}.jsonl", rows)
    print(f"tone: {len(tone_train)} train, {len(tone_test)} test; qa: {len(qa_train)} train, {len(qa_test)} test; "
          f"extract: {', '.join(f'{len(rows)} {split}' for split, rows in extract.items())}; "
          f"preference: {', '.join(f'{len(rows)} {split}' for split, rows in preference.items())}")


if __name__ == "__main__":
    main()
