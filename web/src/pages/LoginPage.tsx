// Sign-in page: email + password, honouring a same-origin `next`.
import { useState, type FormEvent } from 'react';
import { Link } from 'react-router-dom';
import { api } from '../api/endpoints';
import { useDocumentTitle } from '../hooks/useDocumentTitle';
import { FormError, TextField } from '../components/Field';
import { Button } from '../components/Button';
import { AuthLayout } from './AuthLayout';
import { carryNext, useSessionForm } from './authRedirect';

export function LoginPage() {
  useDocumentTitle('Sign in');
  const { next, setError, busy, start, fieldError, formError } = useSessionForm(['email', 'password']);
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!email.trim() || !password) {
      setError('Enter your email and password.');
      return;
    }
    await start(() => api.login(email.trim(), password));
  };

  return (
    <AuthLayout
      title="Welcome back"
      subtitle="Sign in to your Burrow to see your team's apps."
      footer={
        <>
          New here? <Link to={`/register${carryNext(next)}`}>Create an account</Link>
        </>
      }
    >
      <form className="stack" onSubmit={submit} noValidate>
        <FormError>{formError}</FormError>
        <TextField
          label="Email"
          type="email"
          autoComplete="username"
          value={email}
          onChange={(e) => setEmail(e.target.value)}
          error={fieldError('email')}
          autoFocus
          required
        />
        <TextField
          label="Password"
          type="password"
          autoComplete="current-password"
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          error={fieldError('password')}
          required
        />
        <Button type="submit" variant="primary" size="lg" loading={busy} className="btn-block">
          Sign in
        </Button>
      </form>
    </AuthLayout>
  );
}
