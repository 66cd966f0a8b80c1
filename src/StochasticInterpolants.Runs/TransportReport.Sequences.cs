using System.Text;
using StochasticInterpolants.Checkpoints;
using StochasticInterpolants.Data;
using StochasticInterpolants.Files;
using TorchSharp;

namespace StochasticInterpolants.Runs;

public static partial class TransportReport
{
    // A word model (docs/theory.md §16): the chain's states over time (the Lagrangian picture of a discrete path), generated
    // words marked against the word list, the loss.
    private static void SequenceSections(string outFolder, string checkpointFolder, Checkpoint checkpoint, ReportOptions o, List<Section> sections, List<string> notes)
    {
        var record = checkpoint.Manifest.Sequences!;
        var tokens = new TokenSequences(record.Alphabet, record.Length);
        var times = new[] { 0.0, 0.2, 0.4, 0.6, 0.8, 1.0 };
        var chains = 12;
        var (final, saved, _) = SequenceSampler.SamplePath(checkpoint, chains, SequenceSampler.DefaultSteps, o.Seed + 1, times);
        using (final)
        {
            var table = new StringBuilder("<table style=\"font-family:'DejaVu Sans Mono',monospace\"><tr>");
            foreach (var t in times) table.Append("<th>t = ").Append(t.ToString("0.0", Invariant)).Append("</th>");
            table.Append("</tr>");
            var states = saved.Select(s => s.to(torch.int64).data<long>().ToArray()).ToList();
            for (var row = 0; row < chains; row++)
            {
                table.Append("<tr>");
                foreach (var state in states)
                    table.Append("<td style=\"text-align:left\">").Append(E(SequenceEvaluator.Show(tokens, state.AsSpan(row * record.Length, record.Length)))).Append("</td>");
                table.Append("</tr>");
            }
            table.Append("</table>");
            foreach (var s in saved) s.Dispose();
            sections.Add(new Section("The chain, step by step", null,
                $"{chains} sequences of the learned chain at six times (the Lagrangian picture of a discrete path): '_' is the masked token, '.' the padding after a word. " +
                (record.SourceKind == "masked" ? "From all-masked rows, each position is unmasked once, at a rate kappa'/(1 - kappa) times the posterior's draw, and then kept." : "From uniform tokens, each position is redrawn from the posterior at the rate kappa'/(1 - kappa), so letters change until t = 1.") +
                $" {SequenceSampler.DefaultSteps} Euler steps.", table.ToString()));
        }

        // Generated words against the word list: novel valid words in bold, copies of training words in grey.
        WordListData? words = null;
        try { words = WordList.Load(record.Source, record.Length, record.ValidationFraction, record.Seed); }
        catch (Exception e) when (e is IOException or DataFormatException) { notes.Add($"the word list is not available to mark the generated words: {FirstLine(e.Message)}"); }
        var (generated, _) = SequenceSampler.Sample(checkpoint, 120, SequenceSampler.DefaultSteps, o.Seed + 2);
        using (generated)
        {
            var body = new StringBuilder("<p style=\"font-family:'DejaVu Sans Mono',monospace;line-height:1.8\">");
            foreach (var d in tokens.Decode(generated))
            {
                var text = E(SequenceEvaluator.Show(d));
                if (d.Word is { } w && words is not null && words.Dictionary.Contains(w))
                    body.Append(words.TrainingSet.Contains(w) ? $"<span style=\"color:#999\">{text}</span>" : $"<b>{text}</b>");
                else body.Append(text);
                body.Append(' ');
            }
            body.Append("</p>");
            sections.Add(new Section("Generated words", null,
                "120 sequences generated from the source. Bold: words in the list that training never saw (novel and valid); grey: training words generated again; plain: not in the list. si eval gives the shares beside a character n-gram's.", body.ToString()));
        }
        if (CopyLoss(checkpointFolder, outFolder))
            sections.Add(new Section("Training loss", "loss.png", "Mean cross-entropy (nats per masked position for the masked source, per position for the uniform one) of the posterior network against the data tokens."));
    }

    private static string SequenceIntro(CheckpointManifest m) =>
        $"The data are token sequences ({m.Sequences!.TrainingRows:N0} training words of at most {m.Sequences.Length} letters): a discrete mixture path from {m.Sequences.SourceKind} tokens, where each position of x_t holds the data's token with probability kappa(t), and a network learned the posterior p(x1 | x_t) by cross-entropy (docs/theory.md §16).";
}
