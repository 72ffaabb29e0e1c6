import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { withJoinedIdentifiers } from '../../src/docs/identifiers.js';
import { splitSections } from '../../src/docs/sections.js';

describe('splitSections', () => {
  it('splits at ## and ### headings, the introduction under the page title', () => {
    const page = '# Title\n\nIntro.\n\n## One\n\nFirst.\n\n### One `a`\n\nSub.\n\n## Two\n';
    assert.deepEqual(splitSections('Title', page), [
      { ordinal: 0, heading: 'Title', body: 'Intro.' },
      { ordinal: 1, heading: 'One', body: 'First.' },
      { ordinal: 2, heading: 'One a', body: 'Sub.' },
      { ordinal: 3, heading: 'Two', body: '' },
    ]);
  });

  it('ignores headings inside code blocks and a page without an introduction starts at its first heading', () => {
    const page = '# T\n## Shell\n```sh\n# a comment, not a heading\n## nor this\n```\n';
    assert.deepEqual(splitSections('T', page), [
      { ordinal: 0, heading: 'Shell', body: '```sh\n# a comment, not a heading\n## nor this\n```' },
    ]);
  });
});

describe('withJoinedIdentifiers', () => {
  it('adds each snake_case name once as one word, and leaves other text alone', () => {
    assert.equal(
      withJoinedIdentifiers('get_connection, not list_connections or get_connection'),
      'get_connection, not list_connections or get_connection\ngetconnection listconnections',
    );
    assert.equal(withJoinedIdentifiers('plain words _only_'), 'plain words _only_');
  });
});
