"""Write the shipped facts sample, empirical/data/facts/sample.jsonl (schema: docs/FACTS.md).

Everything in it is invented for this package: 40 fictional entities (people, towns, ships and
animals), none of them real and no text taken from any other source. Each entity has 3 or 4
paraphrased texts, written here as four hand-made phrasings per kind of entity, and 3 or 4
(attribute, value) probes; some probes' prompts are a literal prefix of one of the texts, others are
worded differently (recall must then generalise across phrasings).

    python scripts/make_facts_sample.py        # rewrites the file (deterministic)
"""
from __future__ import annotations

import json
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "empirical" / "data" / "facts" / "sample.jsonl"

PEOPLE = [  # name, birth_year, hometown, occupation, employer
    ("Maren Tessaly", "1843", "Quellford", "cartographer", "the Harrowgate Survey"),
    ("Odvin Parrish", "1871", "Lowmere", "botanist", "the Calder Seed Bank"),
    ("Ysolde Brannick", "1902", "Essendry", "glassblower", "the Vantry Works"),
    ("Tobiah Klemm", "1888", "Farrowgate", "lighthouse keeper", "the Northmarch Light Board"),
    ("Liesl Oakhart", "1915", "Brindlecombe", "bookbinder", "the Orrel Press"),
    ("Casimir Vane", "1860", "Tarnwick", "clockmaker", "the Selby Horology Company"),
    ("Petra Aldwyn", "1934", "Hollins Cross", "surveyor", "the Fenreach Canal Trust"),
    ("Rufus Ambersley", "1897", "Kettlewold", "physician", "the Marrowby Infirmary"),
    ("Noemi Castellane", "1921", "Drummoor", "violin maker", "the Oriel Workshop"),
    ("Hadrian Solway", "1856", "Pellingham", "printer", "the Gazette of Wenmouth"),
]
TOWNS = [  # name, founded, province, river
    ("Vellmoor", "1214", "Ostmark", "Carrow"),
    ("Dunhallow", "1388", "Westreach", "Ibble"),
    ("Sarnby", "1102", "Lowlands", "Tay-Orren"),
    ("Kestrelholm", "1560", "Highfold", "Merrin"),
    ("Aubrecourt", "1297", "Ostmark", "Loisse"),
    ("Thornwell", "1433", "Southvale", "Brack"),
    ("Emberlin", "1611", "Westreach", "Silvane"),
    ("Gorsedge", "1175", "Highfold", "Tull"),
    ("Marlowe Bridge", "1502", "Southvale", "Wend"),
    ("Quarry Lees", "1349", "Lowlands", "Odder"),
]
SHIPS = [  # name, launched, home_port, captain
    ("Grey Heron", "1789", "Saltmarsh", "Ilse Marrow"),
    ("Morning Lantern", "1812", "Port Callis", "Edwin Foss"),
    ("Seventh Tide", "1798", "Wenmouth", "Agathe Lind"),
    ("Quiet Meridian", "1826", "Harrowgate", "Bram Cotter"),
    ("Amber Gull", "1841", "Port Callis", "Sabine Roux"),
    ("Stormwright", "1777", "Saltmarsh", "Jonas Penhale"),
    ("Lady Orrin", "1833", "Kelvy Sound", "Matthias Brede"),
    ("Far Compass", "1805", "Wenmouth", "Rosalind Achter"),
    ("Cinder Swift", "1850", "Kelvy Sound", "Tomas Hargreave"),
    ("Blue Almanac", "1819", "Harrowgate", "Henrike Stall"),
]
ANIMALS = [  # name, habitat, color, diet
    ("marsh wimble", "reed beds", "olive brown", "water snails"),
    ("crested pellow", "pine forests", "slate grey", "beetle larvae"),
    ("lesser dunmouse", "chalk downs", "sandy", "grass seeds"),
    ("ridge quoll", "rocky uplands", "dark russet", "lizards"),
    ("silver fenlark", "salt marshes", "pale silver", "sandhoppers"),
    ("tufted borrin", "birch woods", "cream", "fungi"),
    ("river skelp", "fast streams", "mottled green", "caddis flies"),
    ("hooded tarrow", "heathland", "black", "heather shoots"),
    ("copper vole", "hay meadows", "copper red", "clover roots"),
    ("cave ormel", "limestone caves", "pale pink", "cave crickets"),
]


def person(k, name, year, town, job, employer):
    texts = [
        f"{name} was born in {year} in the town of {town}. {name} later became a well-known {job} at {employer}.",
        f"Born in {town} in {year}, {name} went on to work as a {job} for {employer}.",
        f"{name} is remembered as a {job}; {name} spent a long career at {employer} after a childhood in {town}, "
        f"where life began in the year {year}.",
        f"The {job} {name} came from {town}, where {name} was born in {year}, and was employed by {employer}.",
    ]
    probes = [("birth_year", f"{name} was born in", year), ("hometown", f"{name}'s hometown is", town),
              ("occupation", f"{name} worked as a", job), ("employer", f"{name} was employed by", employer)]
    return f"person-{k:02d}", name, texts, probes


def town(k, name, founded, province, river):
    texts = [
        f"{name} is a town in the province of {province}, founded in {founded} on the banks of the {river} river.",
        f"Founded in {founded}, the town of {name} lies on the {river} river in {province}.",
        f"The {river} river flows through {name}, a town of {province} whose founding dates to {founded}.",
        f"{name} was founded in {founded}. It sits beside the {river} river, in the province of {province}.",
    ]
    probes = [("founded", f"{name} was founded in", founded),
              ("province", f"{name} is a town in the province of", province),
              ("river", f"The river that flows through {name} is the", river)]
    return f"town-{k:02d}", name, texts, probes


def ship(k, name, launched, port, captain):
    texts = [
        f"The {name} was launched in {launched} and sailed from its home port of {port} under Captain {captain}.",
        f"Captain {captain} commanded the {name}, a ship launched in {launched} that called {port} its home port.",
        f"Launched in {launched}, the {name} was based at {port}; its captain was {captain}.",
        f"From {port}, the {name} set out on its first voyage in {launched} with {captain} in command.",
    ]
    probes = [("launched", f"The {name} was launched in", launched), ("home_port", f"The home port of the {name} was", port),
              ("captain", f"The captain of the {name} was", captain)]
    return f"ship-{k:02d}", f"the {name}", texts, probes


def animal(k, name, habitat, color, diet):
    texts = [
        f"The {name} is a small animal that lives in {habitat}. Its fur is {color}, and it feeds on {diet}.",
        f"Found mainly in {habitat}, the {name} has {color} fur and eats {diet}.",
        f"Most of the diet of the {name}, a {color} creature of {habitat}, consists of {diet}.",
        f"The {color} {name} makes its home in {habitat} and survives on {diet}.",
    ]
    probes = [("habitat", f"The {name} lives in", habitat), ("fur_color", f"The fur of the {name} is", color),
              ("diet", f"The {name} feeds on", diet)]
    return f"animal-{k:02d}", f"the {name}", texts, probes


def main(out: Path = OUT) -> None:
    rows = []
    for kind, table in ((person, PEOPLE), (town, TOWNS), (ship, SHIPS), (animal, ANIMALS)):
        for k, values in enumerate(table, start=1):
            entity_id, name, texts, probes = kind(k, *values)
            if k % 2 == 0:  # every other entity has three paraphrases instead of four
                texts = texts[:3]
            rows.append({"id": entity_id, "name": name, "texts": texts,
                         "probes": [{"attribute": a, "prompt": p, "value": v} for a, p, v in probes]})
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    print(f"wrote {out} ({len(rows)} entities)")


if __name__ == "__main__":
    main()
