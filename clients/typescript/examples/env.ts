// Where the examples find their server and token: REKALL_URL and REKALL_API_KEY.
export function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}
