// Question sets over the knowledge base: single-hop (one search finds the answer) and two-hop
// (the first passage names a bridge entity whose passage holds the answer). Each question is
// about a subject of one split, and its whole chain stays in that split (see kb.ts).
import type { QaExample } from '../core/qa.ts';
import { Rng } from '../core/rng.ts';
import { answerNames, entity, type KnowledgeBase, type Split } from './kb.ts';

export type QuestionType = 'single_hop' | 'two_hop';

export interface WorldQuestion extends QaExample {
  metadata: {
    type: QuestionType;
    relation: string;
    split: Split;
    /** Subject entity, then bridge entity (two-hop): the passages that must be found, in order. */
    chain: string[];
    /** The entity whose names are the golden answers. */
    answerEntity: string;
    /** The search query an ideal policy issues first (the subject's name). */
    firstQuery: string;
  };
}

export function generateQuestions(kb: KnowledgeBase): WorldQuestion[] {
  const out: Omit<WorldQuestion, 'id'>[] = [];
  const push = (type: QuestionType, relation: string, split: Split, question: string, chain: string[], answerId: string): void => {
    const subj = kb.byId.get(chain[0]);
    out.push({
      question,
      goldenAnswers: answerNames(entity(kb, answerId)),
      dataSource: `world_${type}`,
      metadata: { type, relation, split, chain, answerEntity: answerId, firstQuery: subj ? subj.name : '' },
    });
  };
  for (const p of kb.people) {
    const city = entity(kb, p.birthCity, 'city');
    push('single_hop', 'birth_city', p.split, `Where was ${p.name} born?`, [p.id], city.id);
    push('two_hop', 'birth_country', p.split, `In which country was ${p.name} born?`, [p.id, city.id], city.country);
  }
  for (const w of kb.works) {
    const creator = entity(kb, w.creator, 'person');
    if (w.kind === 'film') {
      push('single_hop', 'film_director', w.split, `Who directed ${w.name}?`, [w.id], creator.id);
      push('two_hop', 'director_birth_city', w.split, `Where was the director of ${w.name} born?`, [w.id, creator.id], creator.birthCity);
    } else {
      push('single_hop', 'book_author', w.split, `Who wrote ${w.name}?`, [w.id], creator.id);
      push('two_hop', 'author_birth_city', w.split, `Where was the author of ${w.name} born?`, [w.id, creator.id], creator.birthCity);
    }
  }
  for (const o of kb.orgs) {
    const founder = entity(kb, o.founder, 'person');
    push('single_hop', 'org_founder', o.split, `Who founded ${o.name}?`, [o.id], founder.id);
    push('single_hop', 'org_city', o.split, `In which city is ${o.name} based?`, [o.id], o.city);
    push('two_hop', 'founder_birth_city', o.split, `Where was the founder of ${o.name} born?`, [o.id, founder.id], founder.birthCity);
  }
  return out.map((q, i) => ({ ...q, id: `world-${i}` }));
}

/** Splits questions by subject split, shuffled (seeded) so files mix relations. */
export function splitQuestions(kb: KnowledgeBase, qs: WorldQuestion[]): Record<Split, WorldQuestion[]> {
  const rng = new Rng(kb.seed ^ 0x9e57);
  const shuffled = rng.shuffle(qs);
  return {
    pretrain: shuffled.filter((q) => q.metadata.split === 'pretrain'),
    train: shuffled.filter((q) => q.metadata.split === 'train'),
    test: shuffled.filter((q) => q.metadata.split === 'test'),
  };
}
