import { InstructionErrors, valueError } from './errors.js';
import { splitCsv } from './csv.js';
import { suggest, withSuggestion } from './suggest.js';
import type { Device } from './types.js';

/** Go's strconv.ParseBool. */
export function parseGoBool(value: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(value)) return false;
  return undefined;
}

/**
 * One `RUN --device` value: `NAME[,required[=BOOL]]` or `name=NAME,...`
 * (CSV fields). Throws a location-less DockerfileError (PARSE_INVALID_DEVICE).
 */
export function parseDevice(text: string): Device {
  const fields = splitCsv(text, InstructionErrors.invalidDevice);
  let name = '';
  let required = false;
  for (const field of fields) {
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase();
    const value = eq < 0 ? '' : field.slice(eq + 1);
    if (eq < 0) {
      if (key === 'required') {
        required = true;
      } else if (name === '') {
        name = field;
      } else {
        throw valueError(InstructionErrors.invalidDevice, `invalid field '${field}' must be a key=value pair`);
      }
      continue;
    }
    if (key === 'name') {
      if (name !== '') throw valueError(InstructionErrors.invalidDevice, `device name already set to ${name}`);
      name = value;
    } else if (key === 'required') {
      const b = parseGoBool(value);
      if (b === undefined) throw valueError(InstructionErrors.invalidDevice, `invalid value for ${key}: ${value}`);
      required = b;
    } else if (name === '') {
      name = field;
    } else {
      const message = withSuggestion(`unexpected key '${key}' in '${field}'`, suggest(key, ['name', 'required']));
      throw valueError(InstructionErrors.invalidDevice, message);
    }
  }
  return { name, required };
}
