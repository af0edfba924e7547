/** The placeholder that always means the user id, whatever the id column is called. */
export const ID_PLACEHOLDER = 'id';

/**
 * A `pull.fields` template compiled once: literal text around `{column}`
 * placeholders. Rendering joins the parts; a placeholder whose column is NULL
 * leaves the whole field out rather than sending a half-built value.
 */
export interface Template {
  readonly literals: readonly string[];
  /** Placeholder names, one between each pair of literals. */
  readonly names: readonly string[];
}

const PLACEHOLDER = /\{([^{}]+)\}/g;

export function parseTemplate(text: string): Template {
  const literals: string[] = [];
  const names: string[] = [];
  let last = 0;
  for (const match of text.matchAll(PLACEHOLDER)) {
    literals.push(text.slice(last, match.index));
    names.push(match[1] as string);
    last = match.index + match[0].length;
  }
  literals.push(text.slice(last));
  return { literals, names };
}

/**
 * `values[i]` fills `names[i]`. In URL fields each value is percent-encoded,
 * so a username with a space or a slash stays one path segment.
 */
export function renderTemplate(template: Template, values: readonly unknown[], encode: boolean): string | undefined {
  let out = template.literals[0] as string;
  for (let i = 0; i < template.names.length; i++) {
    const value = values[i];
    if (value === null || value === undefined) return undefined;
    const text = String(value);
    out += (encode ? encodeURIComponent(text) : text) + (template.literals[i + 1] as string);
  }
  return out;
}
