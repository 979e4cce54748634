// The fictional knowledge base: countries, cities, people, films, books and organisations, with
// made-up names (so no model can know the answers in advance) and the relations between them.
// Every entity except countries and cities belongs to a split; a chain of relations (film →
// director → birth city) never crosses splits. Three splits, so that neither RL nor evaluation can
// be answered from memory: 'pretrain' entities are the only ones the base model reads about in
// pretraining; 'train' entities are the RL training questions (their passages are only in the
// search corpus); 'test' entities are the held-out evaluation questions.
import { Rng } from '../core/rng.ts';

export type Split = 'pretrain' | 'train' | 'test';

export interface Country {
  kind: 'country';
  id: string;
  name: string;
  /** Other names the passages use ("Kingdom of X"); golden answers include them. */
  aliases: string[];
}
export interface City {
  kind: 'city';
  id: string;
  name: string;
  aliases: string[];
  country: string; // Country id
}
export interface Person {
  kind: 'person';
  id: string;
  name: string;
  surname: string;
  split: Split;
  occupation: 'director' | 'writer' | 'founder' | 'scientist';
  birthCity: string; // City id
  birthYear: number;
  employer: string | null; // Org id
}
export interface Work {
  kind: 'film' | 'book';
  id: string;
  name: string;
  split: Split;
  creator: string; // Person id (director or author)
  year: number;
}
export interface Org {
  kind: 'org';
  id: string;
  name: string;
  split: Split;
  founder: string; // Person id
  city: string; // City id (headquarters)
  year: number;
}
export type Entity = Country | City | Person | Work | Org;

export interface KnowledgeBase {
  seed: number;
  countries: Country[];
  cities: City[];
  people: Person[];
  works: Work[];
  orgs: Org[];
  byId: Map<string, Entity>;
}

export interface WorldSize {
  countries: number;
  citiesPerCountry: number;
  people: number;
  /** Fraction of people (and of their works/orgs) held out for test questions. */
  testFraction: number;
  /** Fraction of people whose passages and questions the pretraining reads. The rest is 'train'. */
  pretrainFraction: number;
}

export const DEFAULT_SIZE: WorldSize = { countries: 8, citiesPerCountry: 3, people: 480, testFraction: 0.25, pretrainFraction: 0.4 };

// Small syllable and word inventories keep the vocabulary small enough for a ~1k-token BPE.
const ONSETS = ['b', 'd', 'f', 'g', 'k', 'l', 'm', 'n', 'p', 'r', 's', 't', 'v', 'z', 'br', 'dr', 'kr', 'st', 'th', 'sh'];
const VOWELS = ['a', 'e', 'i', 'o', 'u', 'ai', 'ei', 'ou'];
const CODAS = ['', '', '', 'n', 'r', 'l', 's', 'm', 'k'];
const COUNTRY_SUFFIX = ['ia', 'ova', 'and', 'istan', 'ora'];
const CITY_SUFFIX = ['burg', 'ford', 'heim', 'port', 'ton', 'vale', 'mar'];
const ORG_KIND = ['Studios', 'Press', 'Institute', 'Company', 'Foundation', 'Works'];
const FILM_ADJ = ['Silent', 'Red', 'Hidden', 'Last', 'Broken', 'Golden', 'Lost', 'Quiet', 'Dark', 'Endless', 'Frozen', 'Little', 'Bright', 'Hollow', 'Final', 'Wild'];
const FILM_NOUN = ['Harbor', 'Garden', 'River', 'Mirror', 'Winter', 'Tower', 'Road', 'Island', 'Letter', 'Forest', 'Bridge', 'Crown', 'Storm', 'Door', 'Valley', 'Lantern', 'Shadow', 'Summer', 'Key', 'Window'];
const BOOK_PRE = ['Songs of', 'Letters from', 'The Roads of', 'A History of', 'Tales of', 'The Fall of', 'Winter in', 'Dreams of'];
const OCCUPATIONS: Person['occupation'][] = ['director', 'writer', 'founder', 'scientist'];

function cap(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

function syllable(rng: Rng, coda: boolean): string {
  return rng.pick(ONSETS) + rng.pick(VOWELS) + (coda ? rng.pick(CODAS) : '');
}

function word(rng: Rng, syllables: number): string {
  let w = '';
  for (let i = 0; i < syllables; i++) w += syllable(rng, i === syllables - 1);
  return cap(w);
}

/** Draws names until one is new; every surface form in the world is unique (no ambiguous answers). */
function unique(rng: Rng, used: Set<string>, make: (r: Rng) => string): string {
  for (let tries = 0; tries < 10_000; tries++) {
    const n = make(rng);
    const key = n.toLowerCase();
    if (!used.has(key)) {
      used.add(key);
      return n;
    }
  }
  throw new Error('world: name space exhausted; lower the world size');
}

export function generateKnowledgeBase(seed: number, size: WorldSize = DEFAULT_SIZE): KnowledgeBase {
  const rng = new Rng(seed);
  const used = new Set<string>();
  const countries: Country[] = [];
  for (let i = 0; i < size.countries; i++) {
    const name = unique(rng, used, (r) => word(r, 1 + r.int(2)).replace(/[aeiou]+$/, '') + r.pick(COUNTRY_SUFFIX));
    const alias = `${rng.pick(['Republic', 'Kingdom', 'Union'])} of ${name}`;
    used.add(alias.toLowerCase());
    countries.push({ kind: 'country', id: `country-${i}`, name, aliases: [alias] });
  }
  const cities: City[] = [];
  for (const c of countries) {
    for (let j = 0; j < size.citiesPerCountry; j++) {
      const name = unique(rng, used, (r) => word(r, 1 + r.int(2)) + r.pick(CITY_SUFFIX));
      // A third of the cities have an older name, which the passages give and golden answers accept.
      const aliases: string[] = [];
      if (rng.float() < 0.34) {
        const short = `Old ${name}`;
        if (!used.has(short.toLowerCase())) {
          used.add(short.toLowerCase());
          aliases.push(short);
        }
      }
      cities.push({ kind: 'city', id: `city-${cities.length}`, name, aliases, country: c.id });
    }
  }
  const people: Person[] = [];
  const nTest = Math.round(size.people * size.testFraction);
  const nPretrain = Math.round(size.people * size.pretrainFraction);
  const splitOfIndex = (i: number): Split => (i < nPretrain ? 'pretrain' : i >= size.people - nTest ? 'test' : 'train');
  for (let i = 0; i < size.people; i++) {
    const surname = unique(rng, used, (r) => word(r, 2 + r.int(2)));
    const first = word(rng, 1 + rng.int(2));
    const name = `${first} ${surname}`;
    used.add(name.toLowerCase());
    people.push({
      kind: 'person',
      id: `person-${i}`,
      name,
      surname,
      split: splitOfIndex(i),
      occupation: OCCUPATIONS[i % OCCUPATIONS.length],
      birthCity: rng.pick(cities).id,
      birthYear: 1900 + rng.int(90),
      employer: null,
    });
  }
  const works: Work[] = [];
  const orgs: Org[] = [];
  for (const p of people) {
    if (p.occupation === 'director') {
      for (let k = 0; k < 1 + rng.int(2); k++) {
        const name = unique(rng, used, (r) => `The ${r.pick(FILM_ADJ)} ${r.pick(FILM_NOUN)}`);
        works.push({ kind: 'film', id: `film-${works.length}`, name, split: p.split, creator: p.id, year: p.birthYear + 25 + rng.int(30) });
      }
    } else if (p.occupation === 'writer') {
      for (let k = 0; k < 1 + rng.int(2); k++) {
        const name = unique(rng, used, (r) => `${r.pick(BOOK_PRE)} ${word(r, 2)}`);
        works.push({ kind: 'book', id: `book-${works.length}`, name, split: p.split, creator: p.id, year: p.birthYear + 20 + rng.int(40) });
      }
    } else if (p.occupation === 'founder') {
      const name = unique(rng, used, (r) => `${word(r, 2)} ${r.pick(ORG_KIND)}`);
      orgs.push({ kind: 'org', id: `org-${orgs.length}`, name, split: p.split, founder: p.id, city: rng.pick(cities).id, year: p.birthYear + 25 + rng.int(30) });
    }
  }
  // Employers: scientists and writers work for an organisation of their own split.
  for (const p of people) {
    if (p.occupation !== 'scientist' && p.occupation !== 'writer') continue;
    const pool = orgs.filter((o) => o.split === p.split);
    if (pool.length > 0) p.employer = rng.pick(pool).id;
  }
  const byId = new Map<string, Entity>();
  for (const e of [...countries, ...cities, ...people, ...works, ...orgs]) byId.set(e.id, e);
  return { seed, countries, cities, people, works, orgs, byId };
}

export function entity<K extends Entity['kind']>(kb: KnowledgeBase, id: string, kind?: K): Extract<Entity, { kind: K }> {
  const e = kb.byId.get(id);
  if (!e) throw new Error(`world: unknown entity id ${id}`);
  if (kind && e.kind !== kind) throw new Error(`world: ${id} is a ${e.kind}, expected ${kind}`);
  return e as Extract<Entity, { kind: K }>;
}

/** Names a golden answer list for an entity: its name and its aliases. */
export function answerNames(e: Entity): string[] {
  if (e.kind === 'country' || e.kind === 'city') return [e.name, ...e.aliases];
  return [e.name];
}
