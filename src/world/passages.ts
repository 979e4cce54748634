// Passages of the world in wiki-18 form: one passage per entity, titled with its name, stating
// several facts in plain sentences plus fact-free filler. Distractors arise naturally: a film's
// passage names its director, so a search for the director also returns it, and every person's
// passage says "was born in" about someone.
import type { Passage } from '../core/retriever.ts';
import { Rng } from '../core/rng.ts';
import { entity, type Entity, type KnowledgeBase, type Split } from './kb.ts';

export interface WorldPassage extends Passage {
  /** The entity the passage is about. */
  entityId: string;
  /** Split of the entity; 'shared' for countries and cities (common knowledge). */
  split: Split | 'shared';
}

export interface PassageStyle {
  /** Fact-free filler sentences per passage (length knob: each adds ~8 words). */
  filler: number;
}
export const DEFAULT_STYLE: PassageStyle = { filler: 2 };

const FILLER = [
  'It is often mentioned in local histories.',
  'Many people still talk about it today.',
  'Little else is known from the early records.',
  'It appears in several old collections.',
  'Some of the records were lost in a fire.',
  'Visitors sometimes ask about it.',
  'The old archives hold a few more notes.',
  'It was the subject of a small exhibition.',
];

function entityFacts(kb: KnowledgeBase, e: Entity): string[] {
  switch (e.kind) {
    case 'country': {
      const cities = kb.cities.filter((c) => c.country === e.id).map((c) => c.name);
      return [
        `${e.name}, officially the ${e.aliases[0]}, is a country.`,
        `The cities of ${e.name} include ${listing(cities)}.`,
      ];
    }
    case 'city': {
      const country = entity(kb, e.country, 'country');
      const alias = e.aliases.length > 0 ? ` (also known as ${e.aliases[0]})` : '';
      return [`${e.name}${alias} is a city in ${country.name}.`, `${e.name} lies in the ${country.aliases[0]}.`];
    }
    case 'person': {
      const city = entity(kb, e.birthCity, 'city');
      const role = { director: 'a film director', writer: 'a writer', founder: 'a business founder', scientist: 'a scientist' }[e.occupation];
      const facts = [`${e.name} (born ${e.birthYear}) is ${role}.`, `${e.name} was born in ${city.name}.`];
      const made = kb.works.filter((w) => w.creator === e.id);
      if (made.length > 0) {
        const verb = made[0].kind === 'film' ? 'directed' : 'wrote';
        facts.push(`${e.surname} ${verb} ${listing(made.map((w) => w.name))}.`);
      }
      const founded = kb.orgs.filter((o) => o.founder === e.id);
      if (founded.length > 0) facts.push(`${e.surname} founded ${listing(founded.map((o) => o.name))}.`);
      if (e.employer) facts.push(`${e.surname} works for ${entity(kb, e.employer, 'org').name}.`);
      return facts;
    }
    case 'film':
    case 'book': {
      const creator = entity(kb, e.creator, 'person');
      return e.kind === 'film'
        ? [`${e.name} is a film released in ${e.year}.`, `${e.name} was directed by ${creator.name}.`]
        : [`${e.name} is a book published in ${e.year}.`, `${e.name} was written by ${creator.name}.`];
    }
    case 'org': {
      const founder = entity(kb, e.founder, 'person');
      const city = entity(kb, e.city, 'city');
      return [
        `${e.name} is an organisation founded in ${e.year}.`,
        `${e.name} was founded by ${founder.name}.`,
        `${e.name} is based in ${city.name}.`,
      ];
    }
  }
}

function listing(xs: string[]): string {
  if (xs.length <= 1) return xs.join('');
  return `${xs.slice(0, -1).join(', ')} and ${xs[xs.length - 1]}`;
}

export function splitOf(e: Entity): Split | 'shared' {
  return e.kind === 'country' || e.kind === 'city' ? 'shared' : e.split;
}

/** One passage per entity, in a fixed order (countries, cities, people, works, orgs); id = index. */
export function buildPassages(kb: KnowledgeBase, style: PassageStyle = DEFAULT_STYLE): WorldPassage[] {
  const rng = new Rng(kb.seed ^ 0x5eed);
  const all: Entity[] = [...kb.countries, ...kb.cities, ...kb.people, ...kb.works, ...kb.orgs];
  return all.map((e, i) => {
    const sentences = entityFacts(kb, e);
    sentences.push(...rng.shuffle(FILLER).slice(0, style.filler));
    return { id: String(i), title: e.name, text: sentences.join(' '), entityId: e.id, split: splitOf(e) };
  });
}

/** wiki-18 `contents`: the title in quotes, a newline, the text. */
export function wikiContents(p: Passage): string {
  return `"${p.title}"\n${p.text}`;
}
