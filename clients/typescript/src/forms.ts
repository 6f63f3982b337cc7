/**
 * Feedback forms, typed so that the answers a form asks for are the type of `feedback.data`:
 * a `rating` is a number, a `select` one of its options, a `multiselect` a list of them, `text`
 * and `code` strings; a field with `required: false` may be missing. The server asks every
 * field for a `label`.
 */
export interface RatingField {
  name: string;
  type: 'rating';
  label: string;
  min?: number;
  max?: number;
  required?: boolean;
}
export interface SelectField {
  name: string;
  type: 'select' | 'multiselect';
  label: string;
  options: readonly string[];
  required?: boolean;
}
export interface TextField {
  name: string;
  type: 'text' | 'code';
  label: string;
  language?: string;
  required?: boolean;
}
export type FormField = RatingField | SelectField | TextField;

export interface Form<Fields extends readonly FormField[] = readonly FormField[]> {
  fields: Fields;
}

type ValueOf<F> = F extends { type: 'rating' }
  ? number
  : F extends { type: 'select'; options: readonly (infer O)[] }
    ? O
    : F extends { type: 'multiselect'; options: readonly (infer O)[] }
      ? O[]
      : F extends { type: 'text' | 'code' }
        ? string
        : unknown;

type Optional<Fields extends readonly FormField[]> = Extract<Fields[number], { required: false }>;
type Required_<Fields extends readonly FormField[]> = Exclude<Fields[number], { required: false }>;

/** The answers of a form, by field name. */
export type FormData<Fields extends readonly FormField[]> = string extends Fields[number]['name']
  ? Record<string, unknown>
  : { [F in Required_<Fields> as F['name']]: ValueOf<F> } & { [F in Optional<Fields> as F['name']]?: ValueOf<F> };
