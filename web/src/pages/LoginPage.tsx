// Sign-in page: email + password, honouring a same-origin `next`.
import { useEffect, useState, type FormEvent } from 'react';
import { Link, useNavigate, useSearchParams } from 'react-router-dom';
import { api } from '../api/endpoints';
import { ApiError, errorMessage } from '../api/client';
import { useAuth } from '../hooks/useAuth';
import { useDocumentTitle } from '../hooks/useDocumentTitle';
import { FormError, TextField } from '../components/Field';
import { Button } from '../components/Button';
import { AuthLayout } from './AuthLayout';
import { carryNext, goAfterSignIn } from './authRedirect';

export function LoginPage() {
  useDocumentTitle('Sign in');
  const [params] = useSearchParams();
  const next = params.get('next');
  const navigate = useNavigate();
  const { user, setUser } = useAuth();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<ApiError | string | null>(null);
  const [busy, setBusy] = useState(false);

  // Already signed in (e.g. came back via a bookmarked /login): carry on.
  useEffect(() => {
    if (user && !busy) goAfterSignIn(next, navigate);
  }, [user]);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!email.trim() || !password) {
      setError('Enter your email and password.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const session = await api.login(email.trim(), password);
      setUser(session.user);
      goAfterSignIn(next, navigate);
    } catch (err) {
      setError(err instanceof ApiError ? err : errorMessage(err));
      setBusy(false);
    }
  };

  const fieldError = (name: string) => (error instanceof ApiError && error.field === name ? error.message : null);
  const formError = typeof error === 'string' ? error : error && !error.field ? error.message : null;

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
