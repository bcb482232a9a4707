"""Forms of the CSV import: upload a file for a preview, then confirm the previewed file by its hash."""

from django import forms
from django.core.validators import RegexValidator

from apps.inventory import importer


class ImportUploadForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text=f"UTF-8 CSV (comma or semicolon separated), at most {importer.MAX_BYTES // 1024 // 1024} MB and "
                  f"{importer.MAX_ROWS:,} rows. Nothing is saved until you confirm the preview.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )

    def clean_file(self) -> bytes:
        upload = self.cleaned_data["file"]
        # Refuse by the declared size before reading a large upload into memory.
        if upload.size > importer.MAX_BYTES:
            raise forms.ValidationError(importer.too_big_message(upload.size))
        self.filename = upload.name
        return b"".join(upload.chunks())


class ImportCommitForm(forms.Form):
    """Names the previewed file by its SHA-256; the view reads it back from the import folder."""

    sha256 = forms.CharField(
        widget=forms.HiddenInput,
        validators=[RegexValidator(importer.SHA256_RE, "The import reference is not valid; upload the file again.")],
    )
    filename = forms.CharField(widget=forms.HiddenInput, required=False, max_length=255)
