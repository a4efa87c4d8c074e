// Never a blank page: a render error shows what happened and what to do.
import { Component, ErrorInfo, ReactNode } from 'react';

interface State {
  error: Error | null;
}

export class ErrorBoundary extends Component<{ children: ReactNode; where?: string }, State> {
  state: State = { error: null };

  static getDerivedStateFromError(error: Error): State {
    return { error };
  }

  componentDidCatch(error: Error, info: ErrorInfo) {
    console.error('playcast: the page failed to render', error, info.componentStack);
  }

  render() {
    if (!this.state.error) return this.props.children;
    return (
      <div className="panel problem" role="alert">
        <h2>Something went wrong{this.props.where ? ` in ${this.props.where}` : ''}</h2>
        <p>{this.state.error.message || String(this.state.error)}</p>
        <p>Reload the page to try again; your sessions keep running meanwhile.</p>
        <div className="actions">
          <button type="button" onClick={() => this.setState({ error: null })}>
            Try again
          </button>
          <button type="button" onClick={() => location.reload()}>
            Reload
          </button>
        </div>
      </div>
    );
  }
}
