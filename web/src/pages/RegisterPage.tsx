// Registration page: name, email, password; shows "registration closed" and field errors.
import { useState, type FormEvent } from 'react';
import { Link } from 'react-router-dom';
import { api } from '../api/endpoints';
import { ApiError } from '../api/client';
import { useDocumentTitle } from '../hooks/useDocumentTitle';
import { FormError, TextField } from '../components/Field';
import { Button } from '../components/Button';
import { AuthLayout } from './AuthLayout';
import { carryNext, useSessionForm } from './authRedirect';

export function RegisterPage() {
  useDocumentTitle('Create account');
  const { next, error, setError, busy, start, fieldError, formError } = useSessionForm(['name', 'email', 'password']);
  const [name, setName] = useState('');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!name.trim() || !email.trim() || !password) {
      setError('Fill in your name, email and a password.');
      return;
    }
    await start(() => api.register(name.trim(), email.trim(), password));
  };

  const closed = error instanceof ApiError && error.code === 'registration_closed';

  return (
    <AuthLayout
      title="Create your account"
      subtitle="Host Streamlit apps for your team, each in its own sandbox."
      footer={
        <>
          Already have an account? <Link to={`/login${carryNext(next)}`}>Sign in</Link>
        </>
      }
    >
      <form className="stack" onSubmit={submit} noValidate>
        <FormError>
          {formError}
          {closed && <span className="form-error-hint"> Ask an admin of this Burrow to create an account for you.</span>}
        </FormError>
        <TextField label="Name" autoComplete="name" value={name} onChange={(e) => setName(e.target.value)} error={fieldError('name')} autoFocus required />
        <TextField label="Email" type="email" autoComplete="email" value={email} onChange={(e) => setEmail(e.target.value)} error={fieldError('email')} required />
        <TextField
          label="Password"
          type="password"
          autoComplete="new-password"
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          error={fieldError('password')}
          hint="At least 8 characters, and not a common password."
          required
        />
        <Button type="submit" variant="primary" size="lg" loading={busy} className="btn-block">
          Create account
        </Button>
      </form>
    </AuthLayout>
  );
}
