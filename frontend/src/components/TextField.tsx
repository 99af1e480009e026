import type { InputHTMLAttributes } from "react";
import FieldError from "./FieldError";

type InputProps = Omit<InputHTMLAttributes<HTMLInputElement>, "id" | "value" | "onChange">;

/** A labelled text input with its server-side messages underneath, tied together for screen readers. */
export default function TextField({
  id,
  label,
  value,
  onChange,
  errors,
  ...input
}: InputProps & {
  id: string;
  label: string;
  value: string;
  onChange: (value: string) => void;
  errors?: string[];
}) {
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        value={value}
        aria-describedby={`${id}-error`}
        onChange={(e) => onChange(e.target.value)}
        {...input}
      />
      <FieldError id={`${id}-error`} messages={errors} />
    </div>
  );
}
