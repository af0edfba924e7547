import { schema } from './schema.js';

interface KeySpec {
  doc: string;
  env: string;
  default: unknown;
  sensitive?: boolean;
}

/** Every key of the schema, in schema order, with its environment variable, default and doc. */
export function configKeys(): Array<{ key: string } & KeySpec> {
  const keys: Array<{ key: string } & KeySpec> = [];
  const walk = (node: Record<string, unknown>, path: string[]): void => {
    for (const [name, child] of Object.entries(node)) {
      const spec = child as Partial<KeySpec>;
      if (typeof spec.env === 'string' && 'default' in spec)
        keys.push({ key: [...path, name].join('.'), ...(spec as KeySpec) });
      else walk(child as Record<string, unknown>, [...path, name]);
    }
  };
  walk(schema as unknown as Record<string, unknown>, []);
  return keys;
}

/** The README's configuration reference, generated from the schema (a test keeps them equal). */
export function configReferenceMarkdown(): string {
  const rows = configKeys().map(({ key, env, default: value, doc, sensitive }) => {
    const shown = sensitive || value === '' ? '' : `\`${typeof value === 'string' ? value : JSON.stringify(value)}\``;
    // Secrets also read from a file: the variable with `_FILE` names it.
    const variables = sensitive ? `\`${env}\` or \`${env}_FILE\`` : `\`${env}\``;
    return `| \`${key}\` | ${variables} | ${shown} | ${doc.replaceAll('|', '\\|')} |`;
  });
  return ['| key | environment | default | meaning |', '| --- | --- | --- | --- |', ...rows].join('\n');
}
