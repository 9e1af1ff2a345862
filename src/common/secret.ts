/**
 * A secret named in the configuration: written in the file (a load warning: secrets belong in the
 * environment), or the name of the environment variable that holds it (`*_env`).
 */
export type SecretSource = { readonly url: string } | { readonly urlEnv: string };

/** The secret's value; a variable that is unset or empty is an error naming it and what needs it. */
export function secretValue(
  source: SecretSource,
  what: string,
  env: NodeJS.ProcessEnv = process.env,
): string {
  if ('url' in source) return source.url;
  const value = env[source.urlEnv];
  if (value === undefined || value === '')
    throw new Error(
      `${what} is read from the environment variable ${source.urlEnv}, which is not set (or empty)`,
    );
  return value;
}
